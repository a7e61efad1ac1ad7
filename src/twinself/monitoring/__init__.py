"""Prometheus metrics: what the owner of a twin watches, built on a registry passed in."""
