"""Catalog services: plans."""
