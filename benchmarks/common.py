"""Shared pieces of the benchmarks: the model shape, the workspace (tokenizer + mix data), the
xstilts run config, the filled DeepSpeed JSON, launching ranks, and small statistics.

Everything a benchmark writes goes under one scratch workspace (``--work``, by default a
folder in the system temp dir), never into the repository.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DS_JSON = os.path.join(ROOT, "ds_configs", "zero2_bf16.json")
VOCAB = 8000
# An XLM-R-shaped encoder small enough for two CPU cores: 4 layers, hidden 256, 4 heads,
# FFN 1024; with the 8k-piece tokenizer about 5.4M parameters.
MODEL_SHAPE = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
               "intermediate_size": 1024, "max_position_embeddings": 514, "type_vocab_size": 1,
               "layer_norm_eps": 1e-5}
# XLM-R Large, from its published config (random weights): about 560M parameters, of which
# 256M are the 250,002-row embedding.
XLMR_LARGE_SHAPE = {"vocab_size": 250002, "hidden_size": 1024, "num_hidden_layers": 24,
                    "num_attention_heads": 16, "intermediate_size": 4096,
                    "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5}
SHAPES = {"small": MODEL_SHAPE, "large": XLMR_LARGE_SHAPE}
SEED = 42
LR = 1e-4


def default_work() -> str:
    return os.path.join(tempfile.gettempdir(), "xstilts-bench")


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def build_workspace(work: str, sources, sizes: dict[str, int], name: str) -> dict:
    """Tokenizer (trained once per workspace on the intermediate mix's texts) and the data
    root of one mix; returns paths and the tasks (by role) that read the data."""
    from benchmarks import mixdata
    from trainer.synth.toy_tokenizer import build_tokenizer

    tok_dir = os.path.join(work, "tokenizer")
    if not os.path.isfile(os.path.join(tok_dir, "tokenizer.json")):
        build_tokenizer(mixdata.sample_texts(mixdata.INTERMEDIATE_MIX), VOCAB, tok_dir)
    root = os.path.join(work, f"data-{name}")
    tasks = mixdata.write_mix(sources, root, sizes, seed=SEED)
    return {"tokenizer": tok_dir, "root": root, "tasks": tasks,
            "cache": os.path.join(work, f"cache-{name}")}


def xstilts_config(ws: dict, tasks: list[str], *, out: str, micro: int, global_batch: int,
                   steps: int, log_every: int = 10, group: bool = True, pad_multiple: int = 0,
                   max_length: int = 128, precision: str = "bf16", attn: str = "sdpa",
                   ds_json: str = DS_JSON, shape: str = "small"):
    """The run config of a benchmark run: model from ``SHAPES[shape]``, one phase of ``tasks``."""
    from trainer.config import from_dict

    raw = {"run": {"name": "bench", "out": out, "seed": SEED, "log_every": log_every},
           "model": {"name": "", "tokenizer": ws["tokenizer"], "init_config": dict(SHAPES[shape]),
                     "attn_implementation": attn},
           "data": {"root": ws["root"], "cache_dir": ws["cache"], "max_length": max_length,
                    "group_by_length": group, "pad_to_multiple_of": pad_multiple},
           "deepspeed": {"config": ds_json, "precision": precision, "micro_batch": micro,
                         "global_batch": global_batch},
           "optim": {"lr": LR}, "tracking": {"tensorboard": False},
           "phases": [{"name": "bench", "tasks": tasks, "max_steps": steps}]}
    return from_dict(raw)


def filled_ds_config(cfg, world_size: int, steps: int) -> dict:
    """``ds_configs/zero2_bf16.json`` with its "auto" keys filled exactly as xstilts fills them."""
    from trainer.engine.build import fill_ds_config, load_ds_json

    return fill_ds_config(load_ds_json(cfg.deepspeed.config), cfg, lr=cfg.optim.lr,
                          global_batch=cfg.deepspeed.global_batch, world_size=world_size,
                          total_steps=steps, device="cuda" if gpu_available() else "cpu",
                          path=cfg.deepspeed.config)


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    """Wait for the GPU's queued work (a no-op on CPU), so that a host clock reads finished work."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gpu_gib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 30 if torch.cuda.is_available() else None


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine so far (all processes, from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


class ForeignLoad:
    """Cores kept busy by processes other than ours while a launch runs: machine-wide busy
    time minus our children's CPU time, over the wall time. Other users of a shared machine
    show up here, so a figure measured under load can be told apart."""

    def __enter__(self) -> "ForeignLoad":
        self.t0, self.busy0, self.ours0 = time.perf_counter(), _busy_seconds(), _children_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        foreign = (_busy_seconds() - self.busy0) - (_children_seconds() - self.ours0)
        self.cores = max(foreign, 0.0) / wall


def launch(script: str, args: list[str], ranks: int, timeout: int = 900, threads: int = 1,
           log: str | None = None) -> dict:
    """Run ``script`` on ``ranks`` ranks (one GPU each where there are GPUs, else CPU), one
    process per rank with the variables a launcher sets (RANK, LOCAL_RANK, WORLD_SIZE,
    MASTER_ADDR/PORT; both trainers read them); a timeout or a failed rank ends every rank.
    Returns the load while it ran: ``foreign_cores`` (cores busy with other processes) and the
    1-minute load average before and after."""
    import signal

    from trainer.runtime.dist import free_port

    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=path, TOKENIZERS_PARALLELISM="false",
               HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), WORLD_SIZE=str(ranks), LOCAL_WORLD_SIZE=str(ranks))
    if not gpu_available():
        env["DS_ACCELERATOR"] = "cpu"
    if log:
        os.makedirs(os.path.dirname(log), exist_ok=True)
    load = {"load1_before": os.getloadavg()[0]}
    with open(log or os.devnull, "a") as sink, ForeignLoad() as foreign:
        procs = [subprocess.Popen([sys.executable, "-u", script, f"--local_rank={r}", *args],
                                  env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), cwd=ROOT,
                                  stdout=sink, stderr=subprocess.STDOUT)
                 for r in range(ranks)]
        deadline = time.monotonic() + timeout
        try:
            codes = [p.wait(timeout=max(deadline - time.monotonic(), 1)) for p in procs]
        except subprocess.TimeoutExpired:
            codes = None
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
    load["load1_after"] = os.getloadavg()[0]
    load["foreign_cores"] = foreign.cores
    if codes is None or any(codes):
        raise RuntimeError(f"{script} {' '.join(args)} on {ranks} ranks "
                           + ("timed out" if codes is None else f"failed with exit status {codes}")
                           + (f" (log: {log})" if log else ""))
    return load


def write_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")
