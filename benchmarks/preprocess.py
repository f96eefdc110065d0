"""Preprocessing: tokenize and cache the nine-task mix, then reuse the cache.

The mix (``mixdata.INTERMEDIATE_MIX``, ``--examples`` per task, written in each task's released
format) is read by ``trainer.data.load.load_examples`` and tokenized by
``trainer.data.load.featurize_dataset``, exactly as training does. Three runs, each a fresh process:

  cold    an empty cache: every file is read and every example tokenized
  warm    the same cache again: datasets finds both steps by fingerprint; the figure is the
          warm run's time as a share of the cold run's (target <= 5%)
  ranks   2 ranks through ``trainer.data.streams.load_train_features`` on an empty cache: the main
          process fills the cache first, the other reuses it; each rank counts the examples it
          read and the rows it tokenized itself (only rank 0 should)

Times are measured inside the process around loading + tokenizing (interpreter start and
imports excluded; they are the same for both runs).

  python benchmarks/preprocess.py [--quick] [--examples 4000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


class Counters:
    """Examples read and rows tokenized in this process (wrappers on the registry readers and
    on ``trainer.data.features.featurize``; neither is part of a datasets fingerprint, so the cache
    keys are those of a plain run)."""

    def __init__(self):
        import trainer.data.features as features
        from trainer.tasks import TASKS

        self.read = self.tokenized = 0
        featurize = features.featurize

        def counting_featurize(*args, **kwargs):
            out = featurize(*args, **kwargs)
            self.tokenized += len(out["example_idx"])
            return out

        features.featurize = counting_featurize
        for task in TASKS.values():
            self._wrap_reader(task)

    def _wrap_reader(self, task) -> None:
        read_local = task.read_local

        def counting_read(*args, **kwargs):
            for row in read_local(*args, **kwargs):
                self.read += 1
                yield row

        task.read_local = counting_read


def _setup(a, cache: str):
    """(config, tasks by role, tokenizer) of the mix, with ``cache`` as the data cache."""
    from benchmarks import mixdata
    from trainer.data.tokenizer import load_tokenizer_from

    ws = {"tokenizer": os.path.join(a.work, "tokenizer"), "root": os.path.join(a.work, "data-mix"),
          "cache": cache}
    tasks = {s.role: mixdata.source_task(s) for s in mixdata.INTERMEDIATE_MIX}
    cfg = common.xstilts_config(ws, [t.name for t in tasks.values()], out=os.path.join(a.work, "run"),
                                micro=4, global_batch=32, steps=1)
    return cfg, tasks, load_tokenizer_from(ws["tokenizer"])


LAZY_IMPORTS = ("datasets", "datasets.io.generator", "datasets.packaged_modules.generator.generator",
                "scipy.io")  # datasets imports these at its first builder; scipy.io for streaming


def _import_lazy() -> float:
    """Import what datasets imports lazily at its first use; returns the seconds it took (a
    per-process cost, the same for a cold and a warm run: reported, not counted)."""
    import importlib

    t0 = time.perf_counter()
    for name in LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    return time.perf_counter() - t0


def _load_all(cfg, tasks: dict, tok, load) -> dict[str, dict]:
    """Seconds and feature count per task."""
    out = {}
    for role, task in tasks.items():
        t0 = time.perf_counter()
        features = load(task)
        out[role] = {"seconds": time.perf_counter() - t0, "features": len(features)}
    return out


def worker_single(a) -> None:
    """One process: load_examples + featurize_dataset of every task of the mix."""
    from trainer.data.load import featurize_dataset, load_examples

    counters = Counters()
    cfg, tasks, tok = _setup(a, a.cache)

    def load(task):
        examples = load_examples(task, task.train_split, task.train_language, cfg)
        return featurize_dataset(task, examples, tok, cfg, is_train=True)

    imports = _import_lazy()
    per_task = _load_all(cfg, tasks, tok, load)
    common.write_json(a.result, {"seconds": sum(t["seconds"] for t in per_task.values()),
                                 "import_s": imports,
                                 "tasks": per_task,
                                 "read": counters.read, "tokenized": counters.tokenized})


def worker_ranks(a) -> None:
    """One rank of ``load_train_features`` (main process first) for every task of the mix."""
    from trainer.data.streams import load_train_features
    from trainer.runtime import dist

    info = dist.discover()
    dist.init(info, "", 300, False)
    counters = Counters()
    cfg, tasks, tok = _setup(a, a.cache)
    _import_lazy()
    per_task = _load_all(cfg, tasks, tok, lambda task: load_train_features(cfg, task, tok, info))
    common.write_json(os.path.join(a.result, f"rank{info.rank}.json"),
                      {"rank": info.rank, "seconds": sum(t["seconds"] for t in per_task.values()),
                       "read": counters.read, "tokenized": counters.tokenized})
    dist.shutdown()


def _fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return path


def _single(a, cache: str, tag: str) -> dict:
    result = os.path.join(a.work, "results", f"{tag}.json")
    env = dict(os.environ, PYTHONPATH=common.ROOT, OMP_NUM_THREADS="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "single", "--work", a.work,
                    "--cache", cache, "--result", result], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return common.read_json(result)


def run(a) -> dict:
    from benchmarks import mixdata

    print(f"# preprocessing: 9-task mix, {a.examples} examples per task; {common.machine()}")
    common.build_workspace(a.work, mixdata.INTERMEDIATE_MIX,
                           {s.role: a.examples for s in mixdata.INTERMEDIATE_MIX}, "mix")
    cache = _fresh(os.path.join(a.work, "cache-single"))
    cold, warm = _single(a, cache, "cold"), _single(a, cache, "warm")
    print(f"{'task':<15}{'features':>9}{'cold s':>9}{'warm s':>9}")
    for role, c in cold["tasks"].items():
        print(f"{role:<15}{c['features']:>9}{c['seconds']:>9.2f}{warm['tasks'][role]['seconds']:>9.3f}")
    share = warm["seconds"] / cold["seconds"]
    print(f"{'all':<15}{'':>9}{cold['seconds']:>9.2f}{warm['seconds']:>9.3f}   warm/cold = {share:.1%}"
          f"  (examples read: {cold['read']} / {warm['read']}, rows tokenized: "
          f"{cold['tokenized']} / {warm['tokenized']})")
    print(f"per-process imports datasets makes at first use, not counted: {cold['import_s']:.2f} s "
          f"cold, {warm['import_s']:.2f} s warm")
    ranks = run_ranks(a)
    return {"preprocess_rerun_share": share, "cold_s": cold["seconds"], "warm_s": warm["seconds"],
            "cold_tokenized": cold["tokenized"], "warm_tokenized": warm["tokenized"], "ranks": ranks}


def run_ranks(a) -> list[dict]:
    result = os.path.join(a.work, "results", "ranks")
    shutil.rmtree(result, ignore_errors=True)
    cache = _fresh(os.path.join(a.work, "cache-ranks"))
    common.launch(os.path.abspath(__file__), ["--worker", "ranks", "--work", a.work, "--cache", cache,
                                               "--result", result], 2,
                  log=os.path.join(a.work, "logs", "ranks.log"))
    ranks = [common.read_json(os.path.join(result, f"rank{r}.json")) for r in range(2)]
    for r in ranks:
        print(f"2 ranks, rank {r['rank']}: read {r['read']} examples, tokenized {r['tokenized']} rows, "
              f"{r['seconds']:.2f} s")
    ok = ranks[0]["tokenized"] > 0 and all(r["tokenized"] == 0 and r["read"] == 0 for r in ranks[1:])
    print("only rank 0 tokenized: " + ("yes" if ok else "NO"))
    return ranks


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1000 examples per task")
    p.add_argument("--examples", type=int, default=0, help="examples per task (default 5000)")
    p.add_argument("--work", default=os.path.join(common.default_work(), "preprocess"))
    p.add_argument("--json", default="", help="also write the figures to this file")
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--cache", default="", help=argparse.SUPPRESS)
    p.add_argument("--result", default="", help=argparse.SUPPRESS)
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.examples = a.examples or (1000 if a.quick else 5000)
    return a


def main(argv: list[str] | None = None) -> dict | None:
    a = parse(argv)
    if a.worker:
        (worker_single if a.worker == "single" else worker_ranks)(a)
        return None
    out = run(a)
    if a.json:
        common.write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
