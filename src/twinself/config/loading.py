"""Settings as every command and each API worker process starts with them."""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

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


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret (each key of a comma-separated list too): what `redact` must
    take out of any text that may quote one, such as a library's error message."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            values += [secret, *(part.strip() for part in secret.split(",") if part.strip())]
    # Longest first, so a key inside a longer one is not left half-replaced.
    return sorted({v for v in values if v}, key=len, reverse=True)
