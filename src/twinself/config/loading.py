"""Settings as every command and each API worker process starts with them."""

from __future__ import annotations

from pydantic import ValidationError

from twinself.config.settings import Settings
from twinself.errors import ConfigurationError


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or a ConfigurationError that names each
    invalid setting (what every command and each API worker process starts with)."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"  {name}: {error['msg']}")
        raise ConfigurationError(
            "Invalid configuration (environment or .env):\n" + "\n".join(lines)
        ) from None
