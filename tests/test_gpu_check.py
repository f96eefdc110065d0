"""benchmarks/gpu_check.sh --cpu: every step of the prepared GPU check, at a tiny size on CPU, ends
in one summary line whose figures are numbers."""
import json
import math
import os
import subprocess

import pytest

KEYS = {"mode", "device", "mfu", "mfu_compiled", "mfu_by_seq", "mfu_compiled_by_seq", "ratio_vs_hf_best",
        "ratio_vs_hf_max_length", "host_ms_per_step", "host_hf_ms_per_step", "host_ratio_vs_hf",
        "host_ratio_layer_vs_encoder", "seconds", "failed"}
FIGURES = ("mfu", "mfu_compiled", "ratio_vs_hf_best", "ratio_vs_hf_max_length", "host_ms_per_step",
           "host_hf_ms_per_step", "host_ratio_vs_hf", "host_ratio_layer_vs_encoder")


@pytest.mark.slow
def test_cpu_run_writes_every_figure(repo_root, tmp_path):
    out = tmp_path / "out"
    # a generous budget: the script aims at 3 minutes on two idle cores; shared cores are slower
    proc = subprocess.run([os.path.join(repo_root, "benchmarks", "gpu_check.sh"), "--cpu", str(out),
                           "--budget", "900"], cwd=repo_root, capture_output=True, text=True, timeout=1000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert KEYS <= summary.keys()
    assert summary["mode"] == "cpu" and summary["failed"] == {}, summary["failed"]
    for key in FIGURES:
        assert isinstance(summary[key], float) and math.isfinite(summary[key]), (key, summary[key])
    for by_seq in (summary["mfu_by_seq"], summary["mfu_compiled_by_seq"]):
        assert set(by_seq) == {"32", "64"} and all(math.isfinite(v) for v in by_seq.values())
    assert json.loads((out / "summary.json").read_text()) == summary
    for step in ("mfu_eager", "mfu_compiled", "side_by_side", "host_proxy"):
        assert (out / f"{step}.json").is_file(), step
