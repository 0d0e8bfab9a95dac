"""Catalog services: payment_methods."""
