from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nothing listens on (yet): for a server to start on, or to be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
