"""Catalog services: geography."""
