"""Import DeepEval only through here: its defaults phone home and write into the working folder.

Unset, DeepEval sends telemetry (also at interpreter exit), reads `.env` files from the current
directory, and creates `.deepeval/` there. These variables must be set before its first import.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from types import ModuleType

logger = logging.getLogger(__name__)

_HYGIENE = {
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "DEEPEVAL_DISABLE_LEGACY_KEYFILE": "1",
    "DEEPEVAL_FILE_SYSTEM": "READ_ONLY",
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",
    # One retry layer only: the evaluation worker retries a whole job with long, jittered
    # backoff (a Gemini 429 is a per-minute quota; DeepEval's 1-5 s retries cannot outwait it).
    # DeepEval 4.3.1 never retries Gemini calls anyway (its Google error policy is missing).
    "DEEPEVAL_RETRY_MAX_ATTEMPTS": "1",
}


# The modules whose READ_ONLY notices are logged at import time (DeepEval 4.3).
_READ_ONLY_NOTICES = ("deepeval.prompt.prompt", "deepeval.test_run.cache")


def _not_a_read_only_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("READ_ONLY filesystem")


def quiet_deepeval_environment() -> None:
    """Set the hygiene variables unless the user set them explicitly."""
    for name, value in _HYGIENE.items():
        os.environ.setdefault(name, value)


def import_deepeval() -> ModuleType:
    """Import DeepEval quietly: in read-only mode it prints a warning to *stdout* on import,
    which would corrupt `twinself evaluate --json` output."""
    quiet_deepeval_environment()
    # Read-only mode logs a warning per cache it skips, two of them while importing (and the
    # import resets the "deepeval" logger's level): expected here, noise on a first screen.
    for name in _READ_ONLY_NOTICES:
        logging.getLogger(name).addFilter(_not_a_read_only_notice)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        import deepeval
        import deepeval.metrics
        import deepeval.test_run  # the module that prints
    logging.getLogger("deepeval").setLevel(logging.ERROR)
    if printed.getvalue().strip():
        logger.debug("DeepEval said on import: %s", printed.getvalue().strip())
    return deepeval
