"""Keep a background process (the shipper) running beside the server: restart it if it dies."""

from __future__ import annotations

import ctypes
import logging
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence

from twinself.backoff import backoff_delay

logger = logging.getLogger(__name__)


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel SIGTERM the child if the supervisor dies, even by kill -9."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_death_signal


class ProcessSupervisor:
    def __init__(
        self,
        command: Sequence[str],
        name: str,
        extra_env: Mapping[str, str] | None = None,
        without_env: Sequence[str] = (),
        max_backoff_seconds: float = 30.0,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self._command = list(command)
        # The child's own additions and removals; None inherits this process's environment
        # as it is when the child starts.
        self._extra_env = dict(extra_env or {})
        self._without_env = tuple(without_env)
        self._name = name
        self._max_backoff = max_backoff_seconds
        self._stop_timeout = stop_timeout_seconds
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._process = subprocess.Popen(
                self._command, env=self._environment(), preexec_fn=_die_with_parent()
            )
            code = self._process.wait()
            if self._stopping.is_set():
                return
            self.restarts += 1
            delay = backoff_delay(self.restarts, 1.0, self._max_backoff, random.random())
            logger.warning("%s exited with code %s; restarting in %.1fs", self._name, code, delay)
            self._stopping.wait(delay)

    def _environment(self) -> dict[str, str] | None:
        if not self._extra_env and not self._without_env:
            return None
        merged = {**os.environ, **self._extra_env}
        return {k: v for k, v in merged.items() if k not in self._without_env}

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # the shipper finishes the record in hand, then exits
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread.ident is not None:  # never started: nothing to wait for
            self._thread.join(timeout=self._stop_timeout)
