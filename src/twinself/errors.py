"""Typed errors. Every message says what went wrong and how to fix it."""

from __future__ import annotations


class TwinselfError(Exception):
    """Base of every error twinself raises on purpose; the CLI prints its message, not a trace."""


class ConfigurationError(TwinselfError):
    """A setting is missing or inconsistent."""


class DataValidationError(TwinselfError):
    """The data folder has problems; `problems` lists each as `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"The data folder has {len(problems)} problem(s):\n{shown}{more}\n"
            "Fix them (run `twinself validate` to list them again) and retry."
        )


class MemoryUnavailable(TwinselfError):
    """The vector store or the embedding model cannot be used."""


class MemoryNotBuilt(MemoryUnavailable):
    """The store has no memory yet."""


class MemoryVersionMissing(MemoryNotBuilt):
    """The active version's store is gone from disk (deleted or moved)."""


class ProviderError(TwinselfError):
    """The language model provider failed."""


class ProviderAuthError(ProviderError):
    """The provider refused the credentials (401/403)."""


class ProviderQuotaExceeded(ProviderError):
    """The provider answered 429 and kept answering it after every retry."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""


class ProviderUnavailable(ProviderError):
    """The provider answered 5xx or could not be reached, after every retry."""


class ProviderBadResponse(ProviderError):
    """The provider answered with something that is not a usable reply."""


class ProviderRequestRejected(ProviderError):
    """The provider rejected the request itself (4xx other than auth and quota)."""


class InvalidQuestion(TwinselfError):
    """The question is empty or unusable."""
