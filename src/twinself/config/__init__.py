from twinself.config.settings import Settings

__all__ = ["Settings"]
