"""twinself: a self-hosted digital twin, grounded in your own data, with every answer tracked."""

__version__ = "0.1.0"
