"""Multi-process runs through the real launchers on CPU (gloo): ZeRO-2 on 2 ranks started by the
deepspeed launcher gives the same per-step losses as 1 plain process with the same global batch
(torchrun's 2-rank runs are compared in tests/test_resume.py, mpirun's in test_multinode.py);
bf16 stays within rounding of fp32; TensorBoard holds the tags the README promises."""
from __future__ import annotations

import glob
import os

import pytest
import torch

from tests import helpers as h

STEPS = 6
# fp32, dropout off, one thread per rank, two micro-batches a step (accumulated on 1 rank, one per
# rank on 2: a sum of two terms, the same in either order), the per-operation AdamW and a clip
# that acts at every step: 2 ranks compute the same weights as 1, bit for bit. The logged losses
# are averaged another way (over ranks in float64), so they agree to float32 rounding.
EXACT = ["--deepspeed.global_batch=8", "--optim.fused=false", "--optim.clip=0.05"]
WORLD_SIZE_TOL = 1e-4
# bf16 weights and activations against fp32: one bf16 rounding step of a loss near 1.1.
BF16_TOL = 5e-2


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> h.Workspace:
    root = str(tmp_path_factory.mktemp("launchers"))
    return h.make_workspace(root, tok=h.session_tok(tmp_path_factory), steps=STEPS, dropout=0.0)


def train(ws: h.Workspace, launcher: str, name: str, ranks: int = 2, extra: list[str] | None = None):
    out = ws.run_dir(name)
    extra = ["--checkpoint.every=0", *(extra or [])]
    r = h.run(h.train_cmd(launcher, ws.recipe, out, ranks=ranks, extra=extra), out + ".log", timeout=240)
    assert r.rc == 0, r.tail()
    assert not r.leftovers, f"{launcher} left processes behind: {r.leftovers}"
    return out, r


@pytest.fixture(scope="module")
def deepspeed_run(ws):
    return train(ws, "deepspeed", "deepspeed2", extra=["--tracking.tensorboard=true", *EXACT])


@pytest.fixture(scope="module")
def single_run(ws):
    return train(ws, "single", "single1", ranks=1, extra=EXACT)


@pytest.mark.slow
def test_deepspeed_launcher_runs_two_zero2_ranks(deepspeed_run):
    out, r = deepspeed_run
    assert "world size 2" in r.output or "x 2 ranks" in r.output, r.tail()
    assert sorted(h.losses(out)) == list(range(1, STEPS + 1))
    assert os.path.isfile(os.path.join(out, "inter", "export", "model.safetensors"))


@pytest.mark.slow
def test_two_ranks_match_one_rank(deepspeed_run, single_run):
    two, one = h.losses(deepspeed_run[0]), h.losses(single_run[0])
    assert sorted(two) == sorted(one) == list(range(1, STEPS + 1))
    for step in one:
        assert two[step] == pytest.approx(one[step], abs=WORLD_SIZE_TOL), (step, two, one)
    # the run really trains: the loss moves (a run that never stepped would also "match")
    assert len({round(v, 4) for v in one.values()}) > 1
    clipped = [row["train/grad_norm"] for row in h.metric_rows(single_run[0]) if "train/grad_norm" in row]
    assert clipped and min(clipped) > 0.05  # the clip acted at every logged step
    from safetensors.torch import load_file

    got, ref = (load_file(os.path.join(run[0], "inter", "export", "model.safetensors"))
                for run in (deepspeed_run, single_run))
    assert got.keys() == ref.keys()
    assert [k for k in ref if not torch.equal(got[k], ref[k])] == []  # bit for bit


@pytest.mark.slow
def test_bf16_follows_fp32_within_rounding(ws, deepspeed_run):
    out, _ = train(ws, "deepspeed", "bf16", extra=["--deepspeed.precision=bf16", *EXACT])
    got, ref = h.losses(out), h.losses(deepspeed_run[0])
    assert sorted(got) == sorted(ref)
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=BF16_TOL)
    assert got != ref  # bf16 really ran: its rounding shows somewhere


@pytest.mark.slow
def test_compiled_layers_train_like_eager_under_zero2(ws, deepspeed_run):
    """``model.compile``: the layers compiled in place (aot_eager: autograd capture without code
    generation, which a CPU test can afford) under ZeRO-2's gradient hooks on 2 ranks give the
    eager run's losses, and the export keeps its parameter names."""
    out, r = train(ws, "deepspeed", "compiled", extra=["--model.compile=aot_eager", *EXACT])
    assert "torch.compile (aot_eager): 2 encoder module(s)" in r.output, r.tail()
    got, ref = h.losses(out), h.losses(deepspeed_run[0])
    assert sorted(got) == sorted(ref) == list(range(1, STEPS + 1))
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=WORLD_SIZE_TOL), (step, got, ref)
    from safetensors import safe_open

    names = []
    for run in (out, deepspeed_run[0]):
        with safe_open(os.path.join(run, "inter", "export", "model.safetensors"), "pt") as f:
            names.append(sorted(f.keys()))
    assert names[0] == names[1]


@pytest.mark.slow
def test_whole_encoder_flat_unit_trains_like_one_rank_under_zero2(ws, single_run):
    """``model.flat_unit = encoder``: the encoder in one flat tensor per decay class, partitioned
    across 2 ZeRO-2 ranks inside the tensor, trains as 1 rank with the per-layer unit does."""
    out, r = train(ws, "deepspeed", "flat_encoder", extra=["--model.flat_unit=encoder", *EXACT])
    # one head: the encoder's 2 tensors and the head's 2 (the 1-rank run's default unit, its 2
    # layers in one span: the embeddings' 2, the span's 2, the head's 2)
    assert "4 parameter tensors (model.flat_params = True, model.flat_unit = encoder" in r.output, r.tail()
    assert ("6 parameter tensors (model.flat_params = True, model.flat_unit = layer, model.flat_layers = 4)"
            in single_run[1].output)
    got, ref = h.losses(out), h.losses(single_run[0])
    assert sorted(got) == sorted(ref) == list(range(1, STEPS + 1))
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=WORLD_SIZE_TOL), (step, got, ref)
    from safetensors.torch import load_file

    got_w, ref_w = (load_file(os.path.join(run, "inter", "export", "model.safetensors")) for run in (out, single_run[0]))
    assert got_w.keys() == ref_w.keys()
    for k in ref_w:
        torch.testing.assert_close(got_w[k], ref_w[k], rtol=1e-5, atol=1e-6, msg=k)


def _tags(logdir: str) -> set[str]:
    """Summary tags of every event file directly in ``logdir``."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return {value.tag for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
            for event in EventFileLoader(path).Load() for value in event.summary.value}


@pytest.mark.slow
def test_tensorboard_holds_training_curves_and_the_recipe(deepspeed_run):
    out, _ = deepspeed_run
    run_tags = _tags(os.path.join(out, "tb", "inter"))
    for tag in ("train/loss/xnli", "train/lr", "train/task_prob/xnli", "train/grad_norm",
                "train/loss_scale", "perf/tokens_per_sec", "perf/samples_per_sec"):
        assert tag in run_tags, (tag, sorted(run_tags))
    top = _tags(os.path.join(out, "tb"))
    assert "config/text_summary" in top, top  # the resolved recipe
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= top, top


@pytest.mark.slow
def test_model_selection_on_english_dev_exports_the_best_step(ws):
    """eval.every scores English dev during training; select_best exports the best step's weights."""
    import json

    out, _ = train(ws, "single", "select", ranks=1, extra=["--eval.every=2", "--eval.select_best=true"])
    dev = {row["step"]: row["dev/xnli/en/accuracy"] for row in h.metric_rows(out)
           if "dev/xnli/en/accuracy" in row}
    assert sorted(dev) == [2, 4, 6]
    best = max(sorted(dev), key=lambda s: dev[s])  # the first of equal scores stays best
    assert best != 6  # otherwise exporting the last step would pass for selection
    with open(os.path.join(out, "inter", "export", "xstilts.json")) as f:
        assert json.load(f)["step"] == best
    assert os.path.isfile(os.path.join(h.ckpt_dir(out), "best"))


@pytest.mark.slow
def test_training_run_scores_its_noise_settings_beside_the_clean_pass(ws):
    """eval.perturb in a recipe: after the clean zero-shot pass the run scores every noise
    setting and writes clean / perturbed / drop per task and language."""
    import json

    out, _ = train(ws, "single", "noise", ranks=1,
                   extra=["--phases.0.evaluate=true", '--eval.languages=["en"]',
                          '--eval.perturb.kinds=["char_swap","word_drop"]', "--eval.perturb.rates=[0.3]"])
    with open(os.path.join(out, "results.json")) as f:
        clean = json.load(f)["tasks"]["xnli"]["languages"]["en"]["accuracy"]
    with open(os.path.join(out, "robustness.json")) as f:
        report = json.load(f)
    assert report["settings"] == ["char_swap@0.3", "word_drop@0.3"]
    en = report["tasks"]["xnli"]["languages"]["en"]
    assert en["clean"] == pytest.approx(clean)
    for setting in report["settings"]:
        assert en["drop"][setting] == pytest.approx(en["clean"] - en["perturbed"][setting])
    assert os.path.isfile(os.path.join(out, "robustness.md"))
