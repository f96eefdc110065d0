"""The rendezvous port of a single plain process: where free_port() picks it, and what happens
when another process takes it between the pick and the listen (init picks again), as against a
port the user set (an error, no silent change)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from trainer.runtime import dist, ports


def test_free_port_is_below_the_ephemeral_range_and_free(tmp_path):
    low = ports._ephemeral_low()
    for _ in range(20):
        port = ports.free_port()
        if low - ports.FREE_PORT_FLOOR >= 100:
            assert ports.FREE_PORT_FLOOR <= port < low
        with socket.socket() as s:  # nobody holds it
            s.bind(("127.0.0.1", port))
    ranges = tmp_path / "range"
    ranges.write_text("40000\t60999\n")
    assert ports._ephemeral_low(str(ranges)) == 40000
    assert ports._ephemeral_low(str(tmp_path / "absent")) == 32768
    ranges.write_text("")
    assert ports._ephemeral_low(str(ranges)) == 32768


def test_free_port_without_room_below_the_range_asks_the_kernel(monkeypatch):
    monkeypatch.setattr(ports, "_ephemeral_low", lambda: ports.FREE_PORT_FLOOR + 50)
    monkeypatch.setattr(ports._RNG, "randrange", lambda *a: pytest.fail("picked from a range with no room"))
    assert ports.free_port() > 0


def test_free_port_skips_a_port_in_use(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        picks = iter([taken, taken, 31000])
        monkeypatch.setattr(ports, "_ephemeral_low", lambda: 32768)
        monkeypatch.setattr(ports._RNG, "randrange", lambda a, b: next(picks))
        assert ports.free_port() == 31000


def test_discover_marks_only_a_port_it_picked(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "SLURM_PROCID", "SLURM_STEP_ID", "SLURM_JOB_ID", *dist.MPI_RANK_VARS):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    info = dist.discover()
    assert info.launcher == "single" and info.own_port and os.environ["MASTER_PORT"].isdigit()
    monkeypatch.setenv("MASTER_PORT", "29123")
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key)
    info = dist.discover()
    assert not info.own_port and os.environ["MASTER_PORT"] == "29123"


CHILD = """
import json, os, socket, sys
from trainer.runtime import dist, ports
held = socket.socket(); held.bind(("127.0.0.1", 0)); held.listen(); taken = held.getsockname()[1]
picks = iter([taken] * int(sys.argv[1]))
real = dist.free_port
dist.free_port = lambda: next(picks, None) or real()
if sys.argv[2] == "user":
    os.environ["MASTER_PORT"] = str(taken)
info = dist.discover()
try:
    dist.init(info, "", 30, False)
except Exception as err:
    print(json.dumps({"error": type(err).__name__, "text": str(err)[-300:]})); sys.exit(0)
print(json.dumps({"taken": taken, "port": int(os.environ["MASTER_PORT"]), "own": info.own_port}))
dist.shutdown()
"""


def _child(repo_root, taken_picks: int, who: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
           and not k.startswith("SLURM_") and k not in dist.MPI_RANK_VARS}
    out = subprocess.run([sys.executable, "-c", CHILD, str(taken_picks), who], cwd=repo_root, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_init_picks_again_when_its_port_was_taken(repo_root):
    """Child processes: initializing torch.distributed here would leak into other tests."""
    got = _child(repo_root, 2, "picked")  # the first two picks are taken: the third one listens
    assert got["own"] and got["port"] != got["taken"]
    got = _child(repo_root, dist.PORT_TRIES, "picked")  # bounded: every pick taken is an error
    assert got["error"] == "DistNetworkError" and "EADDRINUSE" in got["text"]
    got = _child(repo_root, 0, "user")  # the user's port is not changed behind their back
    assert got["error"] == "DistNetworkError" and "EADDRINUSE" in got["text"]
