"""The distributed evaluator: work items by token cost, LPT balance on skewed languages, the
gather/assemble checks (no duplicate, no loss), a rank with no items, the progress bar, CPU
fp32 inference; then ``xstilts evaluate`` on a tiny export, one process against 2 ranks under
the deepspeed launcher, torchrun and mpirun (identical scores and prediction files); a failing
and a killed rank; bounded memory of BUCC-sized mining; ``xstilts report``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import eval_helpers as H
import numpy as np
import pytest

from eval import evaluator as E

# ---------------------------------------------------------------- items, balance, assembly


def test_chunk_by_cost_respects_the_budget_and_covers_every_example():
    costs = [5, 7, 3, 30, 2, 2, 9, 1]
    items = E.chunk_by_cost("panx", "de", costs, budget=12)
    assert [(i.start, i.stop) for i in items] == [(0, 2), (2, 3), (3, 4), (4, 6), (6, 8)]
    assert [i.cost for i in items] == [12, 3, 30, 4, 10]
    assert all(i.cost <= 12 or i.stop - i.start == 1 for i in items)  # 30: one example alone
    assert sum(i.cost for i in items) == sum(costs)
    assert E.chunk_by_cost("panx", "de", [], 12) == []
    assert len(E.chunk_by_cost("panx", "de", costs, float("inf"))) == 1


def _skewed_languages(n_langs: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Per language, tokens per sentence: sizes from 50 to 10,000 sentences, means 8 to 40."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_langs):
        size = int(50 * (200 ** (i / (n_langs - 1))))
        out[f"l{i:02d}"] = rng.poisson(8 + 32 * rng.random(), size) + 3
    return out


@pytest.mark.parametrize("ranks", [2, 8, 16])
def test_lpt_balances_forty_skewed_languages(ranks):
    langs = _skewed_languages()
    items = [it for lang, c in langs.items() for it in E.chunk_by_cost("panx", lang, c, 4096)]
    loads = [sum(i.cost for i in part) for part in E.assign(items, ranks)]
    assert sum(loads) == sum(int(c.sum()) for c in langs.values())
    assert max(loads) / (sum(loads) / ranks) < 1.01
    if ranks >= 8:  # one item per language cannot balance: the largest outweighs a share
        whole = [E.WorkItem(float(c.sum()), "panx", lang, 0, len(c)) for lang, c in langs.items()]
        whole_loads = [sum(i.cost for i in part) for part in E.assign(whole, ranks)]
        assert max(whole_loads) / (sum(whole_loads) / ranks) > 1.15


def test_cost_is_tokens_not_examples():
    """400 short sentences (10 tokens) and 100 long ones (60 tokens): items costed by tokens
    split the 10,000 tokens about evenly; costed by examples, one rank gets most of them."""
    tokens = {"a": np.full(400, 10), "b": np.full(100, 60)}

    def token_loads(items):
        return [sum(int(tokens[i.lang][i.start:i.stop].sum()) for i in p) for p in E.assign(items, 2)]

    by_tokens = [it for lang, c in tokens.items() for it in E.chunk_by_cost("panx", lang, c, 1000)]
    assert max(token_loads(by_tokens)) / 5000 < 1.05
    by_examples = [it for lang, c in tokens.items() for it in E.chunk("panx", lang, len(c), 100)]
    assert max(token_loads(by_examples)) / 5000 > 1.5


def test_a_rank_without_items_takes_part():
    items = E.chunk_by_cost("xnli", "fr", [4, 4, 4], budget=100)
    parts = E.assign(items, 3)
    assert [len(p) for p in parts] == [1, 0, 0]
    results = [E.run(p, lambda it: list(range(it.start, it.stop)), rank=r) for r, p in enumerate(parts)]
    assert results[1][0] == {} and results[1][1].items == 0 and results[1][1].busy_s == 0.0
    merged = E.merge(r for r, _ in results)
    assert E.assemble(merged, {("xnli", "fr", ""): 3}) == {("xnli", "fr", ""): [0, 1, 2]}
    # one busy rank of three: the slowest over the mean is exactly 3
    assert E.balance([rep for _, rep in results]) == pytest.approx(3.0)
    reports = [E.RankReport(r) for r in range(3)]
    for rep, busy in zip(reports, (2.0, 1.0, 1.0)):
        rep.busy_s = busy
    assert E.balance(reports) == pytest.approx(2.0 / (4.0 / 3))
    assert E.balance([E.RankReport(0), E.RankReport(1)]) == 1.0  # nobody busy: balanced


def _results(items):
    return {it: list(range(it.start, it.stop)) for it in items}


def test_assemble_catches_missing_duplicated_and_miscounted_examples():
    items = E.chunk_by_cost("panx", "de", [1] * 10, budget=3)  # 0-3, 3-6, 6-9, 9-10
    expected = {("panx", "de", ""): 10}
    assert E.assemble(_results(items), expected)[("panx", "de", "")] == list(range(10))
    with pytest.raises(RuntimeError, match=r"panx/de: examples 3\.\.6 missing"):
        E.assemble(_results(items[:1] + items[2:]), expected)
    overlap = E.WorkItem(3.0, "panx", "de", 2, 5)
    with pytest.raises(RuntimeError, match=r"panx/de: examples 2\.\.3 gathered twice"):
        E.assemble(_results(items + [overlap]), expected)
    with pytest.raises(RuntimeError, match="gathered 9 predictions for 10 examples"):
        E.assemble(_results(items[:3]), expected)
    with pytest.raises(RuntimeError, match="gathered 10 predictions for 11 examples"):
        E.assemble(_results(items), {("panx", "de", ""): 11})
    stray = E.WorkItem(1.0, "xnli", "de", 0, 1)
    with pytest.raises(RuntimeError, match="xnli/de: predictions gathered for a set that was not planned"):
        E.assemble(_results(items + [stray]), expected)


def test_merge_rejects_an_item_from_two_ranks():
    items = E.chunk_by_cost("xnli", "en", [1] * 4, budget=2)
    with pytest.raises(RuntimeError, match="evaluated twice"):
        E.merge([_results(items), _results(items[1:])])


def test_retrieval_parts_assemble_as_arrays():
    items = E.chunk_by_cost("tatoeba", "de", [1] * 5, budget=2, part="src")
    merged = {it: np.full((it.stop - it.start, 4), it.start, dtype=np.float32) for it in items}
    out = E.assemble(merged, {("tatoeba", "de", "src"): 5})[("tatoeba", "de", "src")]
    assert out.shape == (5, 4) and out[:, 0].tolist() == [0, 0, 2, 2, 4]


def test_run_rejects_a_wrong_number_of_predictions():
    items = E.chunk_by_cost("xnli", "en", [1] * 4, budget=10)
    with pytest.raises(RuntimeError, match=r"xnli/en \[0:4\]: predict returned 3 results for 4"):
        E.run(items, lambda it: [0, 1, 2])


def test_progress_bar_only_when_asked(capsys):
    items = E.chunk_by_cost("xnli", "en", [1] * 6, budget=2)
    E.run(items, lambda it: [0] * (it.stop - it.start), rank=1)
    assert "evaluating" not in capsys.readouterr().err
    E.run(items, lambda it: [0] * (it.stop - it.start), rank=0, progress=True)
    assert "evaluating (rank 0)" in capsys.readouterr().err


# ---------------------------------------------------------------- the predictor in-process


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    root = str(tmp_path_factory.mktemp("evaluator"))
    ws = H.make_workspace(root)
    tree = H.config_tree(ws["data"], ws["tok"], os.path.join(root, "run"))
    ws["export"] = H.make_export(os.path.join(root, "export"), tree, step=7)
    ws["root"] = root
    return ws


def test_predictor_costs_are_tokens_and_cpu_stays_fp32(workspace, tmp_path):
    import torch

    from trainer.config import from_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.evaluation.predict import Predictor, autocast_dtype, plan_items
    from trainer.model.export import load_export
    from trainer.tasks import get_task

    meta = H.read_json(os.path.join(workspace["export"], "xstilts.json"))
    cfg = from_dict(meta["config"])
    cfg.data.cache_dir = str(tmp_path / "cache")
    model, tok = load_export(workspace["export"]), load_tokenizer_from(workspace["export"])
    pred = Predictor(model, tok, cfg, {"panx": get_task("panx"), "tatoeba": get_task("tatoeba")}, "dev")
    expected, items = plan_items(pred, [get_task("panx"), get_task("tatoeba")], ["en", "de"], 150)
    assert expected == {("panx", "en", ""): 40, ("panx", "de", ""): 25,
                        ("tatoeba", "de", "src"): 24, ("tatoeba", "de", "trg"): 24}
    _, features, _ = pred.data[("panx", "en")]
    assert pred.costs[("panx", "en", "")].sum() == sum(features["length"])
    src = [t for _, t in pred.pairs[("tatoeba", "de")]["src"]]
    assert pred.costs[("tatoeba", "de", "src")].tolist() == [len(tok(t)["input_ids"]) for t in src]
    assert all(i.cost <= 150 or i.stop - i.start == 1 for i in items)
    assert autocast_dtype(torch.device("cpu")) is None and pred.autocast_dtype is None
    with pytest.MonkeyPatch.context() as mp:  # the GPU choice, without a GPU
        mp.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        assert autocast_dtype(torch.device("cuda", 0)) is torch.bfloat16
        mp.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        assert autocast_dtype(torch.device("cuda", 0)) is None
    item = next(i for i in items if i.task == "tatoeba")
    emb = pred(item)
    assert emb.dtype == np.float32 and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    tags = pred(next(i for i in items if i.task == "panx"))
    assert all(isinstance(t, list) and set(t) <= set(H.TAGS) for t in tags)



def test_eval_rows_padded_to_a_multiple_predict_the_same(workspace, tmp_path):
    """The GPU default pads evaluation rows to a multiple of 8; padding is masked, so tags,
    spans, classes and embeddings must not change (forced here on CPU with a positive value)."""
    import trainer.data.collate
    from trainer.config import from_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.evaluation.predict import Predictor, plan_items
    from trainer.model.export import load_export
    from trainer.tasks import get_task

    meta = H.read_json(os.path.join(workspace["export"], "xstilts.json"))
    model, tok = load_export(workspace["export"]), load_tokenizer_from(workspace["export"])
    names = ["panx", "xquad", "xnli", "tatoeba"]
    seen, outputs = {}, {}
    for multiple in (0, 8):
        cfg = from_dict(meta["config"])
        cfg.data.cache_dir = str(tmp_path / "cache")
        cfg.data.pad_to_multiple_of = multiple
        cfg.eval.batch_size = 5  # several batches of different widths
        pred = Predictor(model, tok, cfg, {n: get_task(n) for n in names}, "dev")
        assert pred.pad_multiple == (multiple or None)
        widths = []
        real_collate = trainer.data.collate.collate

        def spy(*args, **kwargs):
            batch = real_collate(*args, **kwargs)
            widths.append(batch["input_ids"].shape[-1])
            return batch

        real_embed = model.embed

        def embed_spy(enc, layer):
            widths.append(enc["input_ids"].shape[-1])
            return real_embed(enc, layer)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("trainer.data.collate.collate", spy)
            mp.setattr(model, "embed", embed_spy)
            _, items = plan_items(pred, [get_task(n) for n in names], ["en", "de"], 400)
            outputs[multiple] = {(i.task, i.lang, i.part, i.start): pred(i) for i in items}
        seen[multiple] = widths
    assert any(w % 8 for w in seen[0]) and all(w % 8 == 0 for w in seen[8])
    assert outputs[0].keys() == outputs[8].keys()
    for key, plain in outputs[0].items():
        padded = outputs[8][key]
        if isinstance(plain, np.ndarray):  # embeddings
            np.testing.assert_allclose(padded, plain, atol=1e-5, err_msg=str(key))
        else:
            assert padded == plain, key


# ---------------------------------------------------------------- xstilts evaluate, end to end

ARGS = ["--tasks", "xnli", "panx", "xquad", "tatoeba", "--chunk-tokens", "200"]


@pytest.fixture(scope="module")
def single(workspace) -> dict:
    out = os.path.join(workspace["root"], "single")
    done = H.launch(H.evaluate_cmd("single", [workspace["export"], "--out", out, *ARGS]),
                    os.path.join(workspace["root"], "single.log"))
    assert done.rc == 0, done.output[-4000:]
    return {"out": out, "output": done.output}


@pytest.mark.slow
def test_single_process_writes_every_output(single):
    out = single["out"]
    results = H.read_json(os.path.join(out, "results.json"))
    assert set(results["tasks"]) == {"xnli", "panx", "xquad", "tatoeba"}
    assert set(results["tasks"]["xnli"]["languages"]) == {"en", "de", "fr"}
    assert set(results["tasks"]["tatoeba"]["languages"]) == {"de", "fr"}
    for name in ("results.csv", "results.md", "heatmap.png", "eval_stats.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    preds = H.prediction_files(os.path.join(out, "predictions"))
    assert len(preds["xnli/test-de.tsv"].decode().splitlines()) == H.SIZES["xnli"]["de"]
    assert preds["panx/test-en.tsv"].decode().count("\n\n") == H.SIZES["panx"]["en"]
    assert len(json.loads(preds["xquad/test-de.json"])) == H.SIZES["xquad"]["de"]
    assert len(preds["tatoeba/test-fr.tsv"].decode().splitlines()) == H.SIZES["tatoeba"]["fr"]
    tb = H.scalars(os.path.join(out, "tb"))
    assert tb["eval/xnli/de/accuracy"] == [(7, pytest.approx(results["tasks"]["xnli"]["languages"]["de"]["accuracy"]))]
    assert {s for v in tb.values() for s, _ in v} == {7}  # the export's step
    assert "evaluating (rank 0)" in single["output"]


def _same_as_single(single: dict, out: str, output: str) -> dict:
    a = H.read_json(os.path.join(single["out"], "results.json"))
    b = H.read_json(os.path.join(out, "results.json"))
    assert a["tasks"] == b["tasks"]
    assert H.prediction_files(os.path.join(single["out"], "predictions")) == \
        H.prediction_files(os.path.join(out, "predictions"))
    stats = next(iter(H.read_json(os.path.join(out, "eval_stats.json")).values()))
    assert stats["ranks"] == 2 and all(n > 0 for n in stats["items"]), stats
    assert output.count("evaluating (rank 0)") >= 1 and "evaluating (rank 1)" not in output
    return stats


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["deepspeed", "torchrun", "mpirun"])
def test_two_ranks_score_exactly_as_one(workspace, single, launcher):
    out = os.path.join(workspace["root"], f"two-{launcher}")
    done = H.launch(H.evaluate_cmd(launcher, [workspace["export"], "--out", out, *ARGS]),
                    os.path.join(workspace["root"], f"{launcher}.log"))
    assert done.rc == 0, done.output[-4000:]
    stats = _same_as_single(single, out, done.output)
    total = H.read_json(os.path.join(single["out"], "eval_stats.json"))
    assert sum(stats["items"]) == sum(next(iter(total.values()))["items"])
    assert not done.leftovers


@pytest.mark.slow
def test_a_rank_with_nothing_to_do(workspace):
    """One item for two ranks: rank 1 runs none, and the scores match one process."""
    args = ["--tasks", "xnli", "--languages", "fr", "--chunk-tokens", "0"]
    outs = {}
    for launcher in ("single", "torchrun"):
        outs[launcher] = os.path.join(workspace["root"], f"one-item-{launcher}")
        done = H.launch(H.evaluate_cmd(launcher, [workspace["export"], "--out", outs[launcher], *args]),
                        os.path.join(workspace["root"], f"one-item-{launcher}.log"))
        assert done.rc == 0, done.output[-4000:]
    stats = next(iter(H.read_json(os.path.join(outs["torchrun"], "eval_stats.json")).values()))
    assert stats["items"] == [1, 0] and stats["examples"] == [H.SIZES["xnli"]["fr"], 0]
    a, b = (H.read_json(os.path.join(o, "results.json"))["tasks"] for o in outs.values())
    assert a == b and set(a) == {"xnli"} and set(a["xnli"]["languages"]) == {"fr"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["raise", "kill"])
def test_a_failing_rank_ends_the_evaluation(workspace, kind):
    out = os.path.join(workspace["root"], f"fault-{kind}")
    log = os.path.join(workspace["root"], f"fault-{kind}.log")
    done = H.launch(H.evaluate_cmd("deepspeed", [workspace["export"], "--out", out, *ARGS]), log,
                    timeout=120, XSTILTS_EVAL_FAULT=f"{kind}@2:1")
    assert done.rc not in (None, 0), done.output[-4000:]
    after = done.ended - H.fault_time(done.output)
    print(f"[eval fault timing] {kind}@2:1: exit {done.rc} {after:.1f} s after the fault")
    assert after < 60, done.output[-4000:]
    assert not done.leftovers
    assert not os.path.isfile(os.path.join(out, "results.json"))
    if kind == "raise":
        assert "xstilts evaluate: rank 1 failed: RuntimeError: injected evaluation fault" in done.output
    # rank 0 names rank 1: from its failed collective, or from the launcher's SIGTERM; a rank
    # that raised is named from its mark in the store even while its process still exits
    how = "failed" if kind == "raise" else "died"
    assert (f"xstilts evaluate: rank 0: rank 1 {how}; the evaluation cannot finish" in done.output
            or f"xstilts: rank 0: rank 1 ended first ({how}); rank 0 was ended" in done.output), \
        done.output[-4000:]


# ---------------------------------------------------------------- retrieval at BUCC size

MINE = """
import numpy as np
from eval import retrieval_metrics as rm
n, d = 30_000, 64
rng = np.random.default_rng(0)
def unit():
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
src, trg = unit(), unit()
trg[:1000] = src[:1000]  # a thousand true pairs among the distractors
def peak_kib():  # VmHWM: peak RSS of this process image (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = peak_kib()
cands = rm.bucc_candidates(src, trg, list(range(n)), list(range(n)))
after = peak_kib()
found = sum(1 for i in range(1000) if (i, i) in cands)
print(f"MINED {len(cands)} {found} {(after - before) / 1024:.1f}")
"""


@pytest.mark.slow
def test_bucc_sized_mining_keeps_memory_bounded():
    """30k x 30k sentences: the full similarity matrix would be 3.4 GiB; the chunked search
    must stay far below (the 50k x 50k figure is recorded by benchmarks/bench_eval.py)."""
    proc = subprocess.run([sys.executable, "-c", MINE], env=H.env(), cwd=H.ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, n_cands, found, growth_mib = proc.stdout.split()[-4:]
    assert int(found) == 1000 and int(n_cands) >= 1000
    # the search's own blocks show (so the measure is not blind), and stay far below the matrix
    assert 10 < float(growth_mib) < 1024, f"peak RSS grew by {growth_mib} MiB"


# ---------------------------------------------------------------- xstilts report


def _run_results(folder: str, xnli_de: float, panx_de: float | None) -> str:
    from eval.results import build_results, save_json

    scores = {"xnli": {"de": {"accuracy": xnli_de}, "fr": {"accuracy": 50.0}}}
    if panx_de is not None:
        scores["panx"] = {"de": {"f1": panx_de, "precision": panx_de, "recall": panx_de}}
    os.makedirs(folder, exist_ok=True)
    save_json(build_results(scores), os.path.join(folder, "results.json"))
    return folder


def test_report_aggregates_runs(tmp_path, capsys):
    from trainer.cli import main

    runs = [_run_results(str(tmp_path / "seed1"), 60.0, 40.0),
            _run_results(str(tmp_path / "seed2"), 70.0, 50.0),
            _run_results(str(tmp_path / "seed3" / "eval"), 80.0, None)]
    runs[2] = os.path.dirname(runs[2])  # a run folder whose results are in eval/
    assert main(["report", *runs]) == 0
    captured = capsys.readouterr()
    assert "panx/de (2 of 3)" in captured.err and "70.00 ± 10.00" in captured.out
    agg = H.read_json(str(tmp_path / "report" / "results.json"))
    de = agg["tasks"]["xnli"]["languages"]["de"]["accuracy"]
    assert de == {"mean": 70.0, "std": 10.0, "n": 3} and agg["runs"] == 3 and agg["aggregate"]
    assert agg["tasks"]["panx"]["languages"]["de"]["f1"] == {"mean": 45.0, "std": pytest.approx(7.0710678), "n": 2}
    assert agg["tasks"]["xnli"]["avg_metric"]["mean"] == pytest.approx(60.0)
    assert "| xnli | de | accuracy | 70.00 ± 10.00 |" in open(tmp_path / "report" / "results.md").read()
    rows = open(tmp_path / "report" / "results.csv").read().splitlines()
    assert any(r.startswith("xnli,de,accuracy,70.0000,10.0000,70.0000,10.0000") for r in rows)
    out = str(tmp_path / "elsewhere")
    assert main(["report", runs[0], runs[1], "--out", out]) == 0
    assert H.read_json(os.path.join(out, "results.json"))["runs"] == 2


def test_report_refuses_bad_input(tmp_path, capsys):
    from eval.report import main

    run = _run_results(str(tmp_path / "seed1"), 60.0, 40.0)
    assert main([run, str(tmp_path / "missing")], None) == 2
    assert "missing: no results.json" in capsys.readouterr().err
    assert main([run, run], None) == 2
    assert "given twice" in capsys.readouterr().err
    assert main([run], str(tmp_path / "agg")) == 0
    assert main([run, str(tmp_path / "agg")], None) == 2
    assert "already an aggregate" in capsys.readouterr().err
