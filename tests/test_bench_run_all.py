"""benchmarks/run_all.py: which benchmarks it runs with which arguments on CPU and on GPU, and
how the headline is assembled. The benchmarks themselves are stubbed (each has its own run);
every argument list is parsed by the benchmark's real parser."""
from __future__ import annotations

import json

import pytest

from benchmarks import common, mfu, padding, preprocess, run_all, throughput


def _throughput_figures(ratio: float) -> dict:
    return {"ratio_vs_hf_trainer": ratio, "ratio_vs_hf_trainer_best": ratio / 2,
            "paired_ratios": {"hf_group_by_length_column": ratio / 3}}


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    calls: list[tuple[str, list[str]]] = []

    def stub(name, parser, figures):
        def main(argv):
            parser(argv)  # the real parser must accept what run_all passes
            calls.append((name, list(argv)))
            return dict(figures(argv)) if callable(figures) else dict(figures)
        return main

    monkeypatch.setattr(padding, "main", stub("padding", padding.parse, {"padding_efficiency": 0.99412}))
    monkeypatch.setattr(preprocess, "main", stub("preprocess", preprocess.parse,
                                                 {"preprocess_rerun_share": 0.0196}))
    monkeypatch.setattr(throughput, "main", stub(
        "throughput", throughput.parse,
        lambda argv: _throughput_figures(1.8 if "choice" in argv else 3.2)))
    monkeypatch.setattr(mfu, "main", stub("mfu", mfu.parse, {"mfu": {"cls@128": 0.2481, "cls@256": 0.28}}))
    return calls, str(tmp_path / "work")


def test_cpu_quick_runs_three_benchmarks_and_no_mfu(stubbed, monkeypatch, capsys):
    calls, work = stubbed
    monkeypatch.setattr(common, "gpu_available", lambda: False)
    headline = run_all.main(["--quick", "--work", work])
    assert [n for n, _ in calls] == ["padding", "preprocess", "throughput"]
    assert all("--quick" in argv and "--shape" not in argv for _, argv in calls)
    assert headline == {"ratio_vs_hf_trainer": 3.2, "ratio_vs_hf_trainer_best": 1.6,
                        "ratio_vs_hf_trainer_choice": None, "ratio_vs_hf_trainer_choice_column": None,
                        "padding_efficiency": 0.9941, "preprocess_rerun_share": 0.0196, "mfu": None}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == headline


def test_gpu_full_runs_xlmr_large_side_by_side_and_mfu(stubbed, monkeypatch, capsys):
    calls, work = stubbed
    monkeypatch.setattr(common, "gpu_available", lambda: True)
    headline = run_all.main(["--work", work])
    names = [n for n, _ in calls]
    assert names == ["padding", "preprocess", "throughput", "mfu", "throughput"]
    pairs, choice = (argv for n, argv in calls if n == "throughput")
    for argv in (pairs, choice):
        a = throughput.parse(argv)
        assert (a.shape, a.ranks, a.pad_multiple) == ("large", 1, 8)
    assert throughput.parse(pairs).global_batch == 128 and throughput.parse(pairs).micro == 128
    assert throughput.parse(choice).mix == "choice"
    assert mfu.parse(dict(calls)["mfu"]).seqs == [128, 256, 384]  # full lengths without --quick
    assert headline["mfu"] == 0.2481 and headline["ratio_vs_hf_trainer_choice"] == 0.9
    assert headline["ratio_vs_hf_trainer_choice_column"] == 0.6
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == headline
    with open(f"{work}/run_all.json") as f:
        assert set(json.load(f)) == {"padding", "preprocess", "throughput", "mfu", "throughput_choice"}


def test_gpu_quick_measures_mfu_at_128_only(stubbed, monkeypatch):
    calls, work = stubbed
    monkeypatch.setattr(common, "gpu_available", lambda: True)
    run_all.main(["--quick", "--work", work])
    assert mfu.parse(dict(calls)["mfu"]).seqs == [128]
    assert [n for n, _ in calls] == ["padding", "preprocess", "throughput", "mfu"]
