"""The one redactor: text that may carry a secret is passed through here before it reaches a
log, an MLflow run, the outbox or an HTTP response."""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDER = "***"
# scheme://user:password@host -> scheme://***@host (a token alone as the user part too).
_CREDENTIALS_IN_URL = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(text: str, secrets: Iterable[str | None] = (), limit: int | None = None) -> str:
    """Credentials in URLs and every given secret replaced by `***`; then cut to `limit`
    characters (with "...") so a provider's long error page stays readable."""
    text = _CREDENTIALS_IN_URL.sub(rf"\1{PLACEHOLDER}@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, PLACEHOLDER)
    if limit is not None and len(text) > limit:
        return text[:limit] + "..."
    return text
