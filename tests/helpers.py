"""Shared test helpers: a tiny recipe + XNLI-format data + toy tokenizer in a temporary folder,
launcher command lines (deepspeed, two-node deepspeed, mpirun, single process), a launcher
runner that times the job and finds processes it left behind, and readers for per-step losses.

Everything is generated here; nothing is read from outside the test's own folders.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
NLI_LABELS = ("entailment", "neutral", "contradiction")
_WORDS = ("the a river city mountain people lived built school king queen north south old new "
          "small large green red quickly slowly walked sang read wrote found lost near far "
          "house garden bridge train market teacher doctor child friend music letter").split()


# ---------------------------------------------------------------- data, tokenizer, recipe


def sentence(rng: random.Random, lo: int = 4, hi: int = 12) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def xnli_rows(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{sentence(rng)}\t{sentence(rng)}\t{NLI_LABELS[i % 3]}" for i in range(n)]


def write_text(path: str, text: str | bytes) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def write_xnli(data_root: str, n_train: int = 64, n_dev: int = 24, seed: int = 0) -> str:
    """``xnli/train-en.tsv`` and ``xnli/dev-en.tsv`` (premise, hypothesis, label) under a root."""
    write_text(os.path.join(data_root, "xnli", "train-en.tsv"), "\n".join(xnli_rows(n_train, seed)) + "\n")
    write_text(os.path.join(data_root, "xnli", "dev-en.tsv"), "\n".join(xnli_rows(n_dev, seed + 1)) + "\n")
    return data_root


def build_tok(out_dir: str, seed: int = 0) -> str:
    """A toy XLM-R-style tokenizer trained on generated text, saved to ``out_dir``."""
    from trainer.synth.toy_tokenizer import build_tokenizer

    if not os.path.isfile(os.path.join(out_dir, "tokenizer.json")):
        rng = random.Random(seed)
        build_tokenizer([sentence(rng) for _ in range(300)], vocab_size=300, out_dir=out_dir)
    return out_dir


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def recipe_tree(data_root: str, tok: str, out: str, steps: int = 6, dropout: float = 0.1,
                precision: str = "fp32") -> dict:
    """The tiny run every multi-process test starts from: 2-layer XLM-R from a config, XNLI,
    global batch 16 of micro-batches of 4, one losses line per step."""
    return {
        "run": {"name": "tiny", "out": out, "log_every": 1},
        "model": {"name": "", "tokenizer": tok, "retrieval_layer": 1,
                  "init_config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                  "intermediate_size": 64, "max_position_embeddings": 66,
                                  "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}},
        "data": {"root": data_root, "max_length": 48},
        "deepspeed": {"config": os.path.join(ROOT, "ds_configs", "zero2_bf16.json"), "precision": precision,
                      "micro_batch": 4, "global_batch": 16, "timeout_s": 20,
                      "watchdog_s": int(os.environ.get("XSTILTS_TEST_WATCHDOG_S", "20"))},
        "optim": {"lr": 1e-3, "warmup_ratio": 0.2},
        "tracking": {"tensorboard": False},
        "checkpoint": {"every": 1, "keep_last": 2},
        "eval": {"split": "dev"},
        "phases": [{"name": "inter", "tasks": ["xnli"], "max_steps": steps}],
    }


def dump_toml(tree: dict) -> str:
    lines: list[str] = []
    for section, body in tree.items():
        if section == "phases":
            for phase in body:
                lines.append("[[phases]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in phase.items()]
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Workspace:
    """A tiny recipe with its own data and tokenizer under ``root``."""

    root: str
    recipe: str
    data: str
    tok: str

    def run_dir(self, name: str) -> str:
        return os.path.join(self.root, name)


def make_workspace(root: str, tok: str | None = None, **recipe_kwargs) -> Workspace:
    """Data + tokenizer + recipe under ``root`` (``tok``: reuse an already built tokenizer)."""
    data = write_xnli(os.path.join(root, "data"))
    tok = tok or build_tok(os.path.join(root, "tok"))
    tree = recipe_tree(data, tok, os.path.join(root, "run"), **recipe_kwargs)
    recipe = write_text(os.path.join(root, "recipe.toml"), dump_toml(tree))
    return Workspace(root, recipe, data, tok)


# ---------------------------------------------------------------- launching


def launch_env(fault: str | None = None, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
               PATH=BIN + os.pathsep + env.get("PATH", ""),
               PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "XSTILTS_FAULT"):
        env.pop(key, None)
    if fault:
        env["XSTILTS_FAULT"] = fault
    env.update(extra)
    return env


def train_cmd(launcher: str, recipe: str, out: str, ranks: int = 2, port: int | None = None,
              extra: list[str] | None = None) -> list[str]:
    """``xstilts train`` under a launcher: deepspeed, torchrun, mpirun or a single process."""
    from trainer.runtime.dist import free_port

    train = ["train", recipe, "--out", out, *(extra or [])]
    port = port or free_port()
    if launcher == "deepspeed":
        return [os.path.join(BIN, "deepspeed"), "--num_gpus", str(ranks), "--master_port", str(port),
                "--module", "trainer.cli", *train]
    if launcher == "mpirun":
        return [os.path.join(BIN, "mpirun"), "-np", str(ranks), sys.executable, "-m", "mpi4py",
                "-m", "trainer.cli", *train]
    if launcher == "torchrun":
        return [os.path.join(BIN, "torchrun"), "--nproc-per-node", str(ranks), "--master-port", str(port),
                "-m", "trainer.cli", *train]
    return [sys.executable, "-m", "trainer.cli", *train]


def node_cmd(node_rank: int, hostfile: str, port: int, recipe: str, out: str,
             extra: list[str] | None = None) -> list[str]:
    """One node of a multi-node deepspeed job started without ssh: every node runs this with
    the same hostfile and its own ``node_rank``."""
    return [os.path.join(BIN, "deepspeed"), "--hostfile", hostfile, "--no_ssh", "--node_rank",
            str(node_rank), "--master_addr", "127.0.0.1", "--master_port", str(port),
            "--module", "trainer.cli", "train", recipe, "--out", out, *(extra or [])]


LOOPBACK_HOSTS = ("localhost", "127.0.0.1")  # two names for this machine: two "nodes"


def two_node_hostfile(path: str) -> str:
    return write_text(path, "".join(f"{h} slots=1\n" for h in LOOPBACK_HOSTS))


@dataclasses.dataclass
class Result:
    rc: int | None
    output: str
    seconds: float  # from the start of the launcher to its exit
    ended: float  # wall-clock time of the exit
    leftovers: list[str]  # processes of the launcher's session still alive after it exited
    cmd: list[str]

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def session_processes(sid: int) -> list[str]:
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getsid(p.pid) == sid and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(f"{p.pid} {' '.join(p.info['cmdline'] or [])[:120]}")
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def start(cmd: list[str], env: dict, log_path: str) -> subprocess.Popen:
    """Start a launcher in its own session (so that everything it spawns can be found)."""
    log = open(log_path, "wb")
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def finish(procs: list[subprocess.Popen], log_paths: list[str], t0: float, timeout: float) -> list[Result]:
    """Wait for every process (noting when each exits), kill what outlives ``timeout``, then
    report the processes each launcher's session left behind."""
    ends: dict[int, tuple[float, float]] = {}
    while len(ends) < len(procs) and time.monotonic() - t0 < timeout:
        for i, proc in enumerate(procs):
            if i not in ends and proc.poll() is not None:
                ends[i] = (time.monotonic() - t0, time.time())
        time.sleep(0.05)
    time.sleep(0.5)  # let the launchers' children finish dying before looking for them
    results = []
    for i, (proc, path) in enumerate(zip(procs, log_paths)):
        left = session_processes(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with open(path, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        seconds, ended = ends.get(i, (time.monotonic() - t0, time.time()))
        results.append(Result(proc.returncode if i in ends else None, out, seconds, ended, left,
                              list(proc.args)))
    return results


def run(cmd: list[str], log_path: str, timeout: float = 180, fault: str | None = None,
        env: dict | None = None) -> Result:
    t0 = time.monotonic()
    proc = start(cmd, env or launch_env(fault), log_path)
    return finish([proc], [log_path], t0, timeout)[0]


def run_nodes(cmds: list[list[str]], log_paths: list[str], timeout: float = 180,
              envs: list[dict] | None = None) -> list[Result]:
    """Start several launchers at once (the nodes of one job) and wait for all of them."""
    t0 = time.monotonic()
    envs = envs or [launch_env() for _ in cmds]
    procs = [start(c, e, p) for c, e, p in zip(cmds, envs, log_paths)]
    return finish(procs, log_paths, t0, timeout)


# ---------------------------------------------------------------- results


def losses(run_dir: str, phase: str = "inter", task: str = "xnli") -> dict[int, float]:
    """Per-step training loss from ``<run>/<phase>/metrics.jsonl`` (the last value per step wins,
    so a resumed run's lines replace the first attempt's)."""
    out: dict[int, float] = {}
    with open(os.path.join(run_dir, phase, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if f"train/loss/{task}" in row:
                out[row["step"]] = row[f"train/loss/{task}"]
    return out


def metric_rows(run_dir: str, phase: str = "inter") -> list[dict]:
    with open(os.path.join(run_dir, phase, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def ckpt_dir(run_dir: str, phase: str = "inter") -> str:
    return os.path.join(run_dir, phase, "checkpoints")


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """``xstilts ARGV`` in-process: (exit code, stderr). argparse errors exit through SystemExit."""
    from trainer.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return rc, captured.err + captured.out


def session_tok(tmp_path_factory) -> str:
    """One toy tokenizer per test session, shared by every module that asks."""
    return build_tok(str(tmp_path_factory.getbasetemp() / "xstilts-tok"))


def fault_time(output: str) -> float:
    """Wall-clock time at which the injected fault fired (printed by trainer.runtime.faults)."""
    import re

    found = re.findall(r"xstilts fault: .* \(t=([0-9.]+)\)", output)
    assert found, "the fault never fired:\n" + output[-3000:]
    return float(found[0])


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG file's header."""
    import struct

    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])
