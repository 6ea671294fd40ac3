"""Free TCP ports on 127.0.0.1 for servers a test or benchmark starts."""

from __future__ import annotations

import random
import socket

__all__ = ["free_port", "free_ports"]


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free a moment ago on 127.0.0.1.

    Searched below the kernel's ephemeral range (32768 and up on Linux): outgoing
    connections take their local ports from that range, so the neighbour of a port the
    kernel handed out may be taken by a connection before a server binds it.
    """
    for _ in range(200):
        base = random.randrange(20_000, 32_768 - count)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError(f"no {count} consecutive free ports found on 127.0.0.1")
