"""Hostfiles: read and validate a ``host slots=N`` file before any launcher sees it.

The format is the deepspeed launcher's: one ``host slots=N`` per line, ``#`` comments, blank
lines ignored. Validation is stricter than the launchers' own (which accept any non-blank
token as a host and fail late, on the remote side): every error names the file and line, a
host name must be a plain DNS name or IP address (no shell syntax can reach ``ssh``/``pdsh``
through it), slots must be positive, and a host may appear once. The parsed hosts are handed
to launchers as argv lists, never through a shell.
"""
from __future__ import annotations

import os
import re

from trainer.errors import HostfileError

# RFC 1123 labels (letters, digits, hyphens; dots between), IPv4, or a bracket-free IPv6.
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:]+(?:%[A-Za-z0-9]+)?$")


def valid_host(name: str) -> bool:
    return bool(_HOST.match(name) or (":" in name and _IPV6.match(name)))


def _parse_line(path: str, n: int, text: str) -> tuple[str, int] | None:
    body = text.split("#", 1)[0].strip()
    if not body:
        return None
    fields = body.split()
    if len(fields) != 2 or not fields[1].startswith("slots="):
        mpi_style = len(fields) == 1 and ":" in fields[0]
        hint = " (MPI's `host:N` is written `host slots=N` here)" if mpi_style else ""
        raise HostfileError(path, n, f"expected `host slots=N`, got {body!r}{hint}")
    host, value = fields[0], fields[1][len("slots="):]
    if not valid_host(host):
        raise HostfileError(path, n, f"{host!r} is not a host name or IP address "
                                     f"(letters, digits, '-', '.'; no shell characters)")
    if not (value.isascii() and value.isdigit()):  # str.isdigit also takes "²" and "٣"
        raise HostfileError(path, n, f"slots must be a positive integer, got {value!r}")
    if int(value) == 0:
        raise HostfileError(path, n, f"host {host} has zero slots (it would run no rank)")
    return host, int(value)


def parse_hostfile(path: str) -> dict[str, int]:
    """``{host: slots}`` in file order; raises ``HostfileError`` naming file and line."""
    if not os.path.isfile(path):
        raise HostfileError(path, None, "hostfile not found")
    with open(path, "rb") as f:
        raw = f.read()
    hosts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise HostfileError(path, n, f"invalid UTF-8 at byte {err.start} of the line") from None
        entry = _parse_line(path, n, text.removesuffix("\r"))
        if entry is None:
            continue
        host, slots = entry
        if host in hosts:
            raise HostfileError(path, n, f"duplicate host {host} (first on line {first_line[host]})")
        hosts[host], first_line[host] = slots, n
    if not hosts:
        raise HostfileError(path, None, "no hosts (every line is blank or a comment)")
    return hosts


def world_size(hosts: dict[str, int]) -> int:
    return sum(hosts.values())


def mpich_hostfile(hosts: dict[str, int], path: str) -> str:
    """Write the hosts in MPICH/Hydra's ``host:N`` machinefile format (for ``mpirun -f``)."""
    with open(path, "w") as f:
        f.writelines(f"{host}:{slots}\n" for host, slots in hosts.items())
    return path
