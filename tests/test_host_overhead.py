"""benchmarks/host_overhead.py: the side by side's last line, and a reference side as the code was
before the host-cost changes (plain layout, transformers' forward, the mask of unpadded batches)."""
import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_reference_side_before_the_host_cost_changes(repo_root, tmp_path):
    out = tmp_path / "host.json"
    proc = subprocess.run(
        [sys.executable, os.path.join("benchmarks", "host_overhead.py"), "--rounds", "1", "--steps", "1",
         "--warmup", "1", "--seq", "4", "--ref", "model.flat_params=false", "--ref", "model.direct_layers=false",
         "--ref-mask", "--json", str(out)],
        cwd=repo_root, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    for side in ("xstilts", "hf", "ref"):
        assert {"forward_ms", "backward_ms", "step_ms"} <= last[side].keys(), side
    assert last["xstilts_ms_per_step"] > 0 and last["hf_ms_per_step"] > 0 and last["ratio_vs_hf"] > 0
    full = json.loads(out.read_text())
    assert full["ref_mask"] is True and full["seq"] == 4
    # the reference side reads the mask (transformers' test whether it pads anything) as the step
    # did before it dropped the mask of unpadded batches; xstilts does not
    assert full["ref"]["scalar_reads_per_step"] == full["xstilts"]["scalar_reads_per_step"] + 1
    assert full["ref"]["param_tensors"] == full["hf"]["param_tensors"] == 393
    assert full["xstilts"]["param_tensors"] == 16  # spans of 4 of the 24 layers, embeddings, head
    assert "--ref-mask" in proc.stdout
