"""System programs a test needs (Debian's `prometheus` and `promtool`), installed when we can.

On a fresh CI machine running as root, the first test that needs a tool installs its Debian
package. Elsewhere a missing tool skips the test with the command that installs it, except
under CI=true, where a skip would hide that the test never ran: there it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

APT_TIMEOUT_SECONDS = 900


@functools.cache
def _apt_install(package: str) -> str:
    """'' when `package` was installed, else why not."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root with apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS
        )
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
    return ""


def require_tool(name: str, apt_package: str = "prometheus") -> str:
    """The absolute path of `name`, installing `apt_package` first if needed and possible."""
    found = shutil.which(name)
    if found is None:
        why = _apt_install(apt_package)
        found = shutil.which(name)
        if found is None:
            reason = (
                f"`{name}` is not on PATH ({why or 'the package did not provide it'}); "
                f"install it with `sudo apt-get install {apt_package}`"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
    return found
