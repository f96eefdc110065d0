"""Helpers of the evaluator and watch-mode tests: a data root in the released layouts of a few
target tasks (XNLI pairs, PAN-X tagging, XQuAD SQuAD-format JSON, Tatoeba parallel files), a
toy tokenizer, a tiny multi-head export, a run folder whose recipe plans two exports, and
launcher command lines for ``xstilts evaluate``.

Everything is generated under the test's own temporary folder.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from typing import Any

from tests.helpers import session_processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
NLI = ("entailment", "neutral", "contradiction")
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
WORDS = ("river city mountain people school king queen north south old new small large green "
         "red walked sang read wrote found lost house garden bridge train market teacher doctor "
         "child friend music letter Anna Berlin Paris Nairobi Tesla Marie").split()
ENCODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
           "intermediate_size": 64, "max_position_embeddings": 130}


def write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def words(rng: random.Random, lo: int, hi: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]


def write_xnli(root: str, lang: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = [f"{' '.join(words(rng, 4, 12))}\t{' '.join(words(rng, 3, 8))}\t{NLI[i % 3]}" for i in range(n)]
    write(os.path.join(root, "xnli", f"dev-{lang}.tsv"), "\n".join(rows) + "\n")


def write_panx(root: str, lang: str, n: int, seed: int, hi: int = 14) -> None:
    rng = random.Random(seed)
    blocks = ["\n".join(f"{w}\t{rng.choice(TAGS[:2] + TAGS[5:6])}" for w in words(rng, 2, hi))
              for _ in range(n)]
    write(os.path.join(root, "panx", f"dev-{lang}.tsv"), "\n\n".join(blocks) + "\n")


def write_xquad(root: str, lang: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    paragraphs = []
    for p in range(max(1, n // 3)):
        context = " ".join(words(rng, 20, 40)) + "."
        qas = []
        for q in range(3):
            start = rng.randrange(0, len(context) - 12)
            start = context.rfind(" ", 0, start) + 1
            answer = context[start:context.find(" ", start)]
            qas.append({"id": f"{lang}-{p}-{q}", "question": " ".join(words(rng, 3, 6)) + "?",
                        "answers": [{"text": answer, "answer_start": start}]})
        paragraphs.append({"context": context, "qas": qas})
    doc = {"data": [{"title": "t", "paragraphs": paragraphs}], "version": "1.1"}
    write(os.path.join(root, "xquad", f"xquad.{lang}.json"), json.dumps(doc))


def write_tatoeba(root: str, lang: str, n: int, seed: int) -> None:
    from trainer.tasks.formats import to_iso3

    rng = random.Random(seed)
    src = [" ".join(words(rng, 3, 9)) for _ in range(n)]
    # a translation that shares most words makes nearest-neighbour search meaningful
    trg = [" ".join(s.split()[:-1] + [rng.choice(WORDS)]) for s in src]
    base = os.path.join(root, "tatoeba", "v1", f"tatoeba.{to_iso3(lang)}-eng")
    write(f"{base}.{to_iso3(lang)}", "\n".join(src) + "\n")
    write(f"{base}.eng", "\n".join(trg) + "\n")


SIZES = {"xnli": {"en": 30, "de": 20, "fr": 12},
         "panx": {"en": 40, "de": 25, "fr": 8},
         "xquad": {"en": 9, "de": 6},
         "tatoeba": {"de": 24, "fr": 16}}
WRITERS = {"xnli": write_xnli, "panx": write_panx, "xquad": write_xquad, "tatoeba": write_tatoeba}


def write_data(root: str, sizes: dict[str, dict[str, int]] | None = None) -> str:
    """Evaluation files of every task and language in ``sizes`` (task -> lang -> examples)."""
    for t, (task, langs) in enumerate((sizes or SIZES).items()):
        for i, (lang, n) in enumerate(langs.items()):
            WRITERS[task](root, lang, n, seed=100 * t + i)
    return root


def build_tokenizer(out_dir: str) -> str:
    from trainer.synth.toy_tokenizer import build_tokenizer as train

    if not os.path.isfile(os.path.join(out_dir, "tokenizer.json")):
        rng = random.Random(7)
        train([" ".join(words(rng, 3, 12)) for _ in range(400)], vocab_size=200, out_dir=out_dir)
    return out_dir


# The progress watchdog of in-process evaluations; tools/mutation.sh sets 0 (off): a mutation
# run starves each test of CPU, and mutmut's own time limit catches a mutant that hangs.
WATCHDOG_S = int(os.environ.get("XSTILTS_TEST_WATCHDOG_S", "30"))


def config_tree(data_root: str, tok: str, out: str, languages: list[str] | None = None,
                phases: list[dict] | None = None) -> dict:
    """A run config whose model is the tiny encoder and whose evaluation reads ``data_root``."""
    return {"run": {"name": "evaltest", "out": out},
            "model": {"name": "", "tokenizer": tok, "retrieval_layer": 1, "init_config": dict(ENCODER)},
            "data": {"root": data_root, "max_length": 48, "qa_max_length": 64, "doc_stride": 16,
                     "max_query_length": 16},
            "deepspeed": {"timeout_s": 20, "watchdog_s": WATCHDOG_S},
            "tracking": {"tensorboard": True},
            "eval": {"split": "dev", "languages": languages or ["en", "de", "fr"], "batch_size": 8},
            "phases": phases or [{"name": "target", "tasks": ["xnli"], "evaluate": True}]}


def make_export(path: str, tree: dict, tasks: tuple[str, ...] = ("xnli", "panx", "xquad"),
                step: int = 7, seed: int = 0) -> str:
    """A tiny export (encoder + heads of ``tasks`` + tokenizer + config) at ``path``."""
    from trainer.config import from_dict, to_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.model.build import build_model
    from trainer.model.export import save_export
    from trainer.model.multitask import HeadSpec
    from trainer.tasks import get_task

    cfg = from_dict(json.loads(json.dumps(tree)))
    tok = load_tokenizer_from(cfg.model.tokenizer)
    cfg.model.init_config.update(vocab_size=len(tok), pad_token_id=tok.pad_token_id)
    heads, task_map = {}, {}
    for name in tasks:
        t = get_task(name)
        size = 2 if t.kind == "span" else t.num_labels
        heads[t.head] = HeadSpec(t.kind, size, list(t.labels))
        task_map[name] = t.head
    model = build_model(cfg.model, heads, task_map, seed=seed)
    save_export(model.float(), path, tok, phase="test", step=step, config=to_dict(cfg))
    return path


def make_workspace(root: str, sizes: dict | None = None) -> dict[str, str]:
    """Data and tokenizer under ``root``."""
    return {"data": write_data(os.path.join(root, "data"), sizes),
            "tok": build_tokenizer(os.path.join(root, "tok"))}


# ---------------------------------------------------------------- launching


def env(**extra: str) -> dict:
    out = dict(os.environ)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                "XSTILTS_FAULT", "XSTILTS_EVAL_FAULT"):
        out.pop(key, None)
    out.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
               PATH=BIN + os.pathsep + out.get("PATH", ""),
               PYTHONPATH=ROOT + os.pathsep + out.get("PYTHONPATH", ""))
    out.update(extra)
    return out


def evaluate_cmd(launcher: str, args: list[str], ranks: int = 2) -> list[str]:
    """``xstilts evaluate ARGS`` under deepspeed, torchrun, mpirun or as one plain process."""
    from trainer.runtime.dist import free_port

    port = str(free_port())
    tail = ["evaluate", *args]
    if launcher == "deepspeed":
        return [os.path.join(BIN, "deepspeed"), "--num_gpus", str(ranks), "--master_port", port,
                "--module", "trainer.cli", *tail]
    if launcher == "torchrun":
        return [os.path.join(BIN, "torchrun"), "--nproc-per-node", str(ranks), "--master-port", port,
                "-m", "trainer.cli", *tail]
    if launcher == "mpirun":
        return [os.path.join(BIN, "mpirun"), "-np", str(ranks), sys.executable, "-m", "mpi4py",
                "-m", "trainer.cli", *tail]
    return [sys.executable, "-m", "trainer.cli", *tail]


@dataclasses.dataclass
class Done:
    rc: int | None  # None: still running at the time limit (then killed)
    output: str
    seconds: float  # from the start to the exit
    ended: float  # wall-clock time of the exit
    leftovers: list[str]  # processes of the launcher's session alive after it exited


def start(cmd: list[str], log_path: str, **extra: str) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own (so that everything it spawns can be found)."""
    log = open(log_path, "wb")
    return subprocess.Popen(cmd, env=env(**extra), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def finish(proc: subprocess.Popen, log_path: str, t0: float, timeout: float) -> Done:
    """Wait for ``proc`` up to ``timeout`` s after ``t0``, then kill its whole session."""
    rc = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        rc = proc.wait(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    seconds, ended = time.monotonic() - t0, time.time()
    time.sleep(0.5)  # let the launcher's children finish dying before looking for them
    left = session_processes(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with open(log_path, "rb") as f:
        output = f.read().decode("utf-8", "replace")
    return Done(rc, output, seconds, ended, left)


def launch(cmd: list[str], log_path: str, timeout: float = 180, **extra: str) -> Done:
    t0 = time.monotonic()
    return finish(start(cmd, log_path, **extra), log_path, t0, timeout)


def fault_time(output: str) -> float:
    """Wall-clock time at which an injected evaluation fault fired."""
    found = re.findall(r"xstilts fault: .* evaluation item .* \(t=([0-9.]+)\)", output)
    assert found, "the fault never fired:\n" + output[-3000:]
    return float(found[0])


def scalars(tb_dir: str) -> dict[str, list[tuple[int, float]]]:
    """TensorBoard scalars under ``tb_dir``: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(tb_dir)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def prediction_files(folder: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file under a predictions folder."""
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out
