"""Keep a background process (the shipper) running beside the server: restart it if it dies."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from twinself.backoff import backoff_delay

logger = logging.getLogger(__name__)


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel SIGTERM the child when the supervising thread ends, even by
    kill -9 of this process: no orphan keeps a worker lock or a port from the next `serve`.
    Kernel-delivered, it works for any command, also the MLflow server that is not ours."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def set_death_signal() -> None:  # in the child, between fork and exec
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


def stop_with_parent() -> None:
    """In a process that multiprocessing spawned (uvicorn's API workers under `serve
    --workers N`): SIGTERM this process, a graceful stop, once its parent is gone. kill -9 of
    `serve` would otherwise leave the workers answering on its port, and the next `serve`
    could not bind it. The parent's end of the spawn pipe closes whenever the parent dies, so
    there is no race with a parent dead before the watch starts, and no polling."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        logger.warning("The serve process (pid %s) is gone; stopping", parent.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


class RestartBackoff:
    """How long to wait before restarting a child that exited. The delay doubles with each
    crash in a row, up to `max_seconds`; a child that ran `healthy_after_seconds` or more
    before it exited starts the sequence over: one crash after a healthy day waits ~1 s."""

    def __init__(
        self,
        base_seconds: float,
        max_seconds: float,
        healthy_after_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._base = base_seconds
        self._max = max_seconds
        self._healthy_after = healthy_after_seconds
        self._clock = clock
        self._jitter = jitter
        self._started = clock()
        self.crashes_in_a_row = 0

    def child_started(self) -> None:
        self._started = self._clock()

    def delay_after_exit(self) -> float:
        if self._clock() - self._started >= self._healthy_after:
            self.crashes_in_a_row = 0
        self.crashes_in_a_row += 1
        return backoff_delay(self.crashes_in_a_row, self._base, self._max, self._jitter())


class ProcessSupervisor:
    def __init__(
        self,
        command: Sequence[str],
        name: str,
        extra_env: Mapping[str, str] | None = None,
        without_env: Sequence[str] = (),
        max_backoff_seconds: float = 30.0,
        stop_timeout_seconds: float = 10.0,
        healthy_after_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._command = list(command)
        # The child's own additions and removals; None inherits this process's environment
        # as it is when the child starts.
        self._extra_env = dict(extra_env or {})
        self._without_env = tuple(without_env)
        self._name = name
        self._backoff = RestartBackoff(1.0, max_backoff_seconds, healthy_after_seconds, clock)
        self._stop_timeout = stop_timeout_seconds
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self.restarts = 0  # in all; the backoff counts only crashes in a row

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._process = subprocess.Popen(
                self._command, env=self._environment(), preexec_fn=_die_with_parent()
            )
            self._backoff.child_started()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            self.restarts += 1
            delay = self._backoff.delay_after_exit()
            logger.warning(
                "%s exited with code %s (%d in a row); restarting in %.1fs",
                self._name,
                code,
                self._backoff.crashes_in_a_row,
                delay,
            )
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
