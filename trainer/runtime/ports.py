"""Rendezvous ports: one that nobody listens on now, picked where the kernel does not hand out
ports of its own."""
from __future__ import annotations

import random
import socket

FREE_PORT_FLOOR = 30000  # above the Slurm job ports (runtime/slurm.py: 15000-29999)
_RNG = random.SystemRandom()  # not the seeded module state: seeded processes would pick alike


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port nobody listens on now, for a rendezvous about to be served.

    Picked at random below the kernel's ephemeral range when there is room (30000 up to it):
    a port the kernel hands out itself can be taken a moment later as the local end of any
    outgoing connection (gloo opens many), which then makes the rendezvous fail to listen."""
    low = _ephemeral_low()
    for _ in range(50 if low - FREE_PORT_FLOOR >= 100 else 0):
        port = _RNG.randrange(FREE_PORT_FLOOR, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
