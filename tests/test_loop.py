import pytest

"""The training loop in one process: a phase that starts from an export trains in training
mode (dropout on), as one that starts from a config does."""
import json
import os
import subprocess
import sys

from tests.helpers import make_workspace

CHILD = r"""
import json, os, sys
from trainer import config as C
from trainer.config.phases import plan_runs
from trainer.data.tokenizer import load_tokenizer
from trainer.model.build import build_model
from trainer.model.export import save_export
from trainer.model.multitask import MultiTaskModel, head_specs
from trainer.runtime import dist
from trainer.training import loop

recipe, out = sys.argv[1], sys.argv[2]
cfg = C.load(recipe, [f"run.out={out}", "checkpoint.every=0"])
info = dist.discover()
dist.init(info, "", 60, False)
tok = load_tokenizer(cfg, info)
seen = []
forward = MultiTaskModel.forward
def spy(self, task, batch):
    seen.append(all(m.training for m in self.modules()))
    return forward(self, task, batch)
MultiTaskModel.forward = spy
phase = cfg.phases[0]
start = os.path.join(out, "start")
heads, task_map = head_specs(plan_runs(cfg, phase, {"pretrained": "pretrained"})[0].tasks, len(tok))
save_export(build_model(cfg.model, heads, task_map, "pretrained"), start, tok)
for init in ("pretrained", start):
    seen.clear()
    run = plan_runs(cfg, phase, {"pretrained": init})[0]
    run.out = os.path.join(out, os.path.basename(init))
    loop.train(cfg, run, info, type("T", (), {"scalars": lambda *a: None, "close": lambda *a: None})(), tok)
    print(json.dumps({"init": os.path.basename(init), "training": sorted(set(seen)), "calls": len(seen)}))
dist.shutdown()
"""


@pytest.mark.slow
def test_a_phase_from_an_export_trains_with_dropout(tmp_path, repo_root):
    ws = make_workspace(str(tmp_path), steps=2)
    env = dict(os.environ, DS_ACCELERATOR="cpu", PYTHONPATH=repo_root, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", CHILD, ws.recipe, str(tmp_path / "out")], cwd=repo_root,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["init"] for r in rows] == ["pretrained", "start"]
    for r in rows:
        assert r["calls"] >= 2 * 4  # 2 steps x 4 micro-batches
        assert r["training"] == [True], r  # never a training step in eval mode
