"""Catalog services: addons."""
