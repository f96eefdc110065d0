"""Resume: a run stopped after the checkpoint at step N and resumed repeats the uninterrupted
run's losses exactly (dropout on: per-rank RNG streams restored); a job killed inside a save
keeps the previous checkpoint; pruning keeps the last K plus the best; a checkpoint written on
2 ranks resumes on 1 and one from 1 rank on 2 (DeepSpeed's universal format, converted once)."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

from tests import helpers as h
from trainer.engine import checkpoint

WS_TOL = 1e-4  # another world size sums the same gradients in another order


def latest(out: str) -> str:
    with open(os.path.join(h.ckpt_dir(out), "latest")) as f:
        return f.read().strip()


def export_step(out: str) -> int:
    with open(os.path.join(out, "inter", "export", "xstilts.json")) as f:
        return json.load(f)["step"]


def loss_steps(out: str) -> list[int]:
    """Every step that logged a loss, in file order (a repeated step would show twice)."""
    return [row["step"] for row in h.metric_rows(out) if "train/loss/xnli" in row]


def train(ws: h.Workspace, out: str, log: str, ranks: int = 2, fault: str | None = None,
          extra: list[str] | None = None) -> h.Result:
    launcher = "torchrun" if ranks > 1 else "single"
    return h.run(h.train_cmd(launcher, ws.recipe, out, ranks=ranks, extra=extra), log, fault=fault,
                 timeout=150)


@pytest.fixture(scope="module")
def ws_a(tmp_path_factory) -> h.Workspace:
    """Dropout on: exact repetition needs every rank's RNG streams back."""
    return h.make_workspace(str(tmp_path_factory.mktemp("resume_a")), tok=h.session_tok(tmp_path_factory),
                            dropout=0.1)


@pytest.fixture(scope="module")
def ws_b(tmp_path_factory) -> h.Workspace:
    """Dropout off: runs on different world sizes see the same computation."""
    return h.make_workspace(str(tmp_path_factory.mktemp("resume_b")), tok=h.session_tok(tmp_path_factory),
                            dropout=0.0)


def reference(ws: h.Workspace) -> dict[int, float]:
    out = ws.run_dir("reference")
    r = train(ws, out, out + ".log")
    assert r.rc == 0, r.tail()
    return h.losses(out)


@pytest.fixture(scope="module")
def ref_a(ws_a) -> dict[int, float]:
    return reference(ws_a)


@pytest.fixture(scope="module")
def ref_b(ws_b) -> dict[int, float]:
    return reference(ws_b)


@pytest.mark.slow
def test_resume_repeats_the_uninterrupted_losses(ws_a, ref_a, tmp_path):
    out = str(tmp_path / "run")
    r = train(ws_a, out, str(tmp_path / "log1"), fault="exit@3")
    assert r.rc not in (0, None), r.tail()
    assert latest(out) == "step_0000003"
    assert not os.path.exists(os.path.join(out, "inter", "export"))
    r = train(ws_a, out, str(tmp_path / "log2"), extra=["--resume"])
    assert r.rc == 0, r.tail()
    assert "resumed at step 3" in r.output
    got = h.losses(out)
    for step in (4, 5, 6):
        assert got[step] == ref_a[step], f"step {step}: resumed {got[step]!r}, uninterrupted {ref_a[step]!r}"
    assert loss_steps(out) == [1, 2, 3, 4, 5, 6]  # the step count continues, nothing repeated
    assert export_step(out) == 6



@pytest.mark.slow
def test_prefetched_batches_train_and_resume_as_the_plain_loop(ws_a, ref_a, tmp_path):
    """Batches prepared two steps ahead in the feeder's thread (``data.prefetch``, on by default
    on GPU only) give the plain loop's losses, and a checkpoint records the data positions of
    the steps that trained, not of those already prepared: the resumed run repeats the rest."""
    out, ahead = str(tmp_path / "run"), ["--data.prefetch=2"]
    r = train(ws_a, out, str(tmp_path / "log1"), fault="exit@3", extra=ahead)
    assert r.rc not in (0, None), r.tail()
    got = h.losses(out)
    assert [got[s] for s in (1, 2, 3)] == [ref_a[s] for s in (1, 2, 3)]
    r = train(ws_a, out, str(tmp_path / "log2"), extra=["--resume", *ahead])
    assert r.rc == 0, r.tail()
    assert "resumed at step 3" in r.output
    got = h.losses(out)
    for step in (4, 5, 6):
        assert got[step] == ref_a[step], f"step {step}: resumed {got[step]!r}, uninterrupted {ref_a[step]!r}"
    assert loss_steps(out) == [1, 2, 3, 4, 5, 6]

@pytest.fixture(scope="module")
def killed_in_save(ws_b, tmp_path_factory) -> tuple[str, h.Result]:
    """A 2-rank run killed (every rank) inside its step-4 save; checkpoints every 2 steps."""
    out = str(tmp_path_factory.mktemp("killed") / "run")
    r = train(ws_b, out, out + ".log", fault="killsave@4", extra=["--checkpoint.every=2"])
    return out, r


@pytest.mark.slow
def test_kill_during_save_keeps_the_previous_checkpoint(killed_in_save):
    out, r = killed_in_save
    assert r.rc not in (0, None), r.tail()
    assert "xstilts fault: killsave on rank" in r.output
    ckpts = h.ckpt_dir(out)
    assert latest(out) == "step_0000002"
    assert os.path.isdir(os.path.join(ckpts, "step_0000004.tmp"))  # the half-finished save
    assert not os.path.exists(os.path.join(ckpts, "step_0000004"))
    assert checkpoint.saved_world_size(ckpts, "step_0000002") == 2


@pytest.mark.slow
def test_two_rank_checkpoint_resumes_on_one_rank(ws_b, ref_b, killed_in_save):
    out, _ = killed_in_save
    r = train(ws_b, out, out + ".resume.log", ranks=1, extra=["--resume", "--checkpoint.every=2"])
    assert r.rc == 0, r.tail()
    assert "resumed at step 2" in r.output and "written by 2 ranks, now 1" in r.output
    assert "step_0000002 to the universal format" in r.output  # (pruned with its tag later)
    got = h.losses(out)
    for step in (3, 4, 5, 6):
        assert got[step] == pytest.approx(ref_b[step], abs=WS_TOL), step
    assert export_step(out) == 6
    assert not any(t.endswith(".tmp") for t in os.listdir(h.ckpt_dir(out)))  # pruned by a later save


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["layer", "encoder"])
def test_one_rank_checkpoint_resumes_on_two_ranks(ws_b, ref_b, tmp_path, unit):
    """Also with the whole encoder in one flat tensor per class (``model.flat_unit = encoder``,
    the one-GPU setting): its universal conversion joins the tensor's partitions back."""
    out, unit_arg = str(tmp_path / "run"), [f"--model.flat_unit={unit}"]
    r = train(ws_b, out, str(tmp_path / "log1"), ranks=1, fault="exit@3", extra=unit_arg)
    assert r.rc == 3, r.tail()
    r = train(ws_b, out, str(tmp_path / "log2"), ranks=2, extra=["--resume", *unit_arg])
    assert r.rc == 0, r.tail()
    assert "resumed at step 3" in r.output and "written by 1 ranks, now 2" in r.output
    got = h.losses(out)
    for step in (4, 5, 6):
        assert got[step] == pytest.approx(ref_b[step], abs=WS_TOL), step
    assert loss_steps(out) == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------- in-process pieces


def make_tags(ckpts: str, steps: list[int]) -> None:
    for s in steps:
        os.makedirs(os.path.join(ckpts, f"step_{s:07d}"))


def test_prune_keeps_the_last_k_plus_best(tmp_path):
    ckpts = str(tmp_path)
    make_tags(ckpts, [1, 2, 3, 4, 5, 6])
    os.makedirs(os.path.join(ckpts, "step_0000007.tmp"))  # a save that was killed
    os.makedirs(os.path.join(ckpts, "universal", "step_0000001"))  # a conversion of a pruned tag
    (tmp_path / "best").write_text("step_0000002")
    (tmp_path / "latest").write_text("step_0000006")
    checkpoint.prune(ckpts, keep_last=2)
    assert checkpoint.list_tags(ckpts) == ["step_0000002", "step_0000005", "step_0000006"]
    assert not os.path.exists(os.path.join(ckpts, "step_0000007.tmp"))
    assert not os.path.exists(os.path.join(ckpts, "universal", "step_0000001"))


def test_latest_tag_survives_a_kill_between_rename_and_pointer(tmp_path):
    ckpts = str(tmp_path)
    assert checkpoint.latest_tag(ckpts) is None
    make_tags(ckpts, [2, 4])
    os.makedirs(os.path.join(ckpts, "step_0000006.tmp"))  # never complete: not a candidate
    (tmp_path / "latest").write_text("step_0000002")  # the step-4 rename happened, the pointer did not
    assert checkpoint.latest_tag(ckpts) == "step_0000004"
    (tmp_path / "latest").unlink()
    assert checkpoint.latest_tag(ckpts) == "step_0000004"


def test_restore_rng_takes_this_ranks_streams_or_reseeds():
    states = []
    for seed in (1, 2):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        states.append(checkpoint.rng_state())
    draws = []
    for _ in range(2):
        checkpoint.restore_rng(states, rank=1, seed=0, step=0)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    torch.manual_seed(2)
    assert float(torch.rand(1)) == draws[0][2]  # rank 1 continued rank 1's stream (seed 2)
    checkpoint.restore_rng(states, rank=2, seed=0, step=5)  # a rank the checkpoint did not have
    fresh = float(torch.rand(1))
    checkpoint.restore_rng(states, rank=2, seed=0, step=5)
    assert float(torch.rand(1)) == fresh  # seeded from (seed, step, rank): the same on a retry


def pickled_modules(path: str) -> set[str]:
    """The modules named by the classes and functions a torch.save file would import to load."""
    import pickletools
    import zipfile

    found: set[str] = set()
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.endswith(".pkl"):
                continue
            strings: list[str] = []
            for op, arg, _ in pickletools.genops(z.read(name)):
                if op.name == "GLOBAL":
                    found.add(str(arg).split(" ")[0])
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.add(strings[-2])
                if isinstance(arg, str):
                    strings.append(arg)
    return found


def test_pickle_scan_sees_a_project_class(tmp_path):
    from trainer.model.multitask import HeadSpec

    path = str(tmp_path / "x.pt")
    torch.save({"spec": HeadSpec("classification", 3)}, path)
    assert "trainer.model.multitask" in pickled_modules(path)


@pytest.mark.slow
def test_checkpoints_pickle_no_project_class(ws_a, ref_a):
    """A checkpoint holds plain values only (no class of the project), so moving code between
    modules never breaks a resume of a checkpoint written before the move."""
    folder = os.path.join(h.ckpt_dir(ws_a.run_dir("reference")), latest(ws_a.run_dir("reference")))
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".pt")]
    assert any("model_states" in f for f in files), files  # the one that carries the client state
    for path in files:
        names = pickled_modules(path)
        assert names, path  # the scan read the file's pickle
        assert not [n for n in names if n.split(".")[0] in ("trainer", "eval")], (path, sorted(names))
