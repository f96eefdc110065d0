"""Against a real Slurm (`tools/slurm_local.sh start`, SLURM_CONF exported; .ci/run does both):
2 ranks started by srun train exactly as under the deepspeed launcher; a job that gets the
time-limit signal mid-training requeues itself and ends with the uninterrupted run's weights,
no step trained twice; a job at its real time limit leaves a checkpoint, and scancel another;
a 2-setting sweep runs as job arrays and writes its grid; host lists expand as scontrol does; an
unknown partition is refused before anything is submitted. Skipped when no cluster answers."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests import helpers as h
from trainer.runtime import slurm


def cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


pytestmark = [pytest.mark.slow,  # jobs on a real cluster start training processes
              pytest.mark.skipif(not cluster_up(), reason="no Slurm cluster answers (start one with "
                                 "`tools/slurm_local.sh start` and export the SLURM_CONF it prints)")]
STEPS = 8
XSTILTS = os.path.join(h.BIN, "xstilts")


# ---------------------------------------------------------------- jobs


def job(job_id: str) -> dict:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True)
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout)) if out.returncode == 0 else {}


def wait_for(what, timeout: float, poll: float = 0.5, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:g} s: {message}")


def wait_final(job_id: str, timeout: float = 240) -> dict:
    def final():
        j = job(job_id)
        return j if j.get("JobState") not in (None, "PENDING", "RUNNING", "COMPLETING", "REQUEUED") else None
    return wait_for(final, timeout, message=f"job {job_id} did not end")


def release(job_id: str, **update: str) -> None:
    """Start a requeued job in 2 s instead of after Slurm's requeue delay (about 25 s here). Not
    at once: slurmd refuses a job whose new credential carries the same second as the revocation
    of its last one ("Job credential revoked"), and the job then ends instead of running."""
    fields = [f"{k}={v}" for k, v in {"StartTime": "now+2", **update}.items()]
    subprocess.run(["scontrol", "update", f"JobId={job_id}", *fields], check=True, capture_output=True)


def submit(ws: h.Workspace, out: str, extra: list[str], fault: str | None = None) -> str:
    cmd = [XSTILTS, "train", ws.recipe, "--out", out, "--launcher", "slurm", "--slurm.evaluate=inline", *extra]
    r = subprocess.run(cmd, env=h.launch_env(fault), capture_output=True, text=True, cwd=h.ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return re.search(r"submitted train job (\d+)", r.stdout).group(1)


def log_of(out: str, job_id: str) -> str:
    path = os.path.join(out, "slurm", f"train-{job_id}.out")
    if not os.path.isfile(path):  # not started yet
        return ""
    with open(path) as f:
        return f.read()


def latest(out: str) -> str:
    with open(os.path.join(h.ckpt_dir(out), "latest")) as f:
        return f.read().strip()


def loss_steps(out: str) -> list[int]:
    return [row["step"] for row in h.metric_rows(out) if "train/loss/xnli" in row]


def weights(out: str) -> dict:
    from safetensors.torch import load_file

    return load_file(os.path.join(out, "inter", "export", "model.safetensors"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> h.Workspace:
    return h.make_workspace(str(tmp_path_factory.mktemp("slurm")), tok=h.session_tok(tmp_path_factory),
                            steps=STEPS, dropout=0.1)


@pytest.fixture(scope="module")
def reference(ws) -> str:
    """2 ranks through the deepspeed launcher, never interrupted."""
    out = ws.run_dir("deepspeed")
    r = h.run(h.train_cmd("deepspeed", ws.recipe, out, extra=["--checkpoint.every=0"]), out + ".log", timeout=240)
    assert r.rc == 0, r.tail()
    return out


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("text", ["node[01-03,07],gpu-a[1-2]", "n[8-11]", "n[098-101]", "n[1-010]",
                                  "r[1-2]-n[1-2]", "vm,n[1,3-4]"])
def test_host_lists_expand_like_scontrol(text):
    out = subprocess.run(["scontrol", "show", "hostnames", text], capture_output=True, text=True, check=True)
    assert slurm.expand_hostlist(text) == out.stdout.split()


def test_srun_ranks_train_like_the_deepspeed_launcher(ws, reference):
    out = ws.run_dir("srun")
    cmd = ["srun", "-n", "2", sys.executable, "-m", "trainer.cli", "train", ws.recipe, "--out", out,
           "--checkpoint.every=0"]
    r = h.run(cmd, out + ".log", timeout=240)
    assert r.rc == 0, r.tail()
    assert "x 2 ranks" in r.output and not r.leftovers
    assert h.losses(out) == h.losses(reference)  # fp32 on the same world size: bit for bit
    assert sorted(h.losses(out)) == list(range(1, STEPS + 1))


def test_requeued_job_ends_with_the_uninterrupted_weights(ws, reference):
    """Rank 1 alone gets the time-limit signal at step 3: both ranks checkpoint step 3, the
    batch script requeues the job, and the requeued job resumes there."""
    out = ws.run_dir("requeued")
    job_id = submit(ws, out, ["--tasks-per-node", "2", "--checkpoint.every=0"], fault="usr1@3:1")
    wait_for(lambda: job(job_id).get("Restarts") == "1", 180, message=f"job {job_id} was not requeued")
    assert latest(out) == "step_0000003"
    release(job_id)
    final = wait_final(job_id)
    assert final["JobState"] == "COMPLETED", log_of(out, job_id)
    log = log_of(out, job_id)
    assert log.count("requeueing job") == 1 and "restart 1," in log
    assert "stopping at step 3/8 on SIGUSR1" in log and "resumed at step 3" in log
    assert loss_steps(out) == list(range(1, STEPS + 1))  # every step trained once
    assert h.losses(out) == h.losses(reference)
    got, ref = weights(out), weights(reference)
    assert got.keys() == ref.keys() and all((got[k] == ref[k]).all() for k in ref)
    status = subprocess.run([XSTILTS, "status", out], capture_output=True, text=True, env=h.launch_env())
    assert f"{job_id}" in status.stdout and "done" in status.stdout, status.stdout + status.stderr


def test_time_limit_leaves_a_checkpoint_and_scancel_another(ws):
    """A one-minute job: Slurm's SIGUSR1 (at its next time-limit check, within about 30 s)
    leaves a checkpoint and a requeue; the requeued job, given more time, resumes from it, and
    scancel stops it with a checkpoint too."""
    out = ws.run_dir("time_limit")
    job_id = submit(ws, out, ["--tasks-per-node", "1", "--time", "1", "--slurm.signal_s=55",
                              "--phases.0.max_steps=100000", "--run.log_every=10", "--checkpoint.every=0"])
    wait_for(lambda: "requeueing job" in log_of(out, job_id), 150, message="no time-limit checkpoint")
    first = int(re.search(r"stopping at step (\d+)/100000 on SIGUSR1", log_of(out, job_id)).group(1))
    assert latest(out) == f"step_{first:07d}"
    wait_for(lambda: job(job_id).get("Restarts") == "1", 60, message="not requeued")
    release(job_id, TimeLimit="10")
    progress = os.path.join(out, "progress.json")
    wait_for(lambda: "resumed at step" in log_of(out, job_id) and os.path.isfile(progress)
             and json.load(open(progress))["step"] > first + 10, 120, message="the requeued job did not train")
    subprocess.run(["scancel", job_id], check=True)
    final = wait_final(job_id, 90)
    log = log_of(out, job_id)
    assert final["JobState"] == "CANCELLED", log
    second = int(re.search(r"stopping at step (\d+)/100000 on SIGTERM", log).group(1))
    assert second > first and latest(out) == f"step_{second:07d}"
    assert f"resumed at step {first} " in log and log.count("requeueing job") == 1


def test_two_setting_sweep_runs_as_jobs_and_writes_its_grid(ws, tmp_path):
    tree = h.recipe_tree(ws.data, ws.tok, str(tmp_path / "unused"))
    tree["phases"] = [{"name": "intermediate", "tasks": ["xnli"], "max_steps": 3},
                      {"name": "target", "init": "intermediate", "tasks": ["xnli"], "per_task": True,
                       "max_steps": 3, "evaluate": True}]
    tree["eval"]["languages"] = ["en"]
    tree["checkpoint"]["every"] = 0
    h.write_text(str(tmp_path / "recipe.toml"), h.dump_toml(tree))
    grid = str(tmp_path / "grid")
    spec = h.write_text(str(tmp_path / "spec.toml"), f"""[sweep]
name = "tiny"
recipe = "recipe.toml"
out = "{grid}"
seeds = [1]
launcher = "slurm"
baseline = "a"

[slurm]
tasks_per_node = 1
time = "10"

[[settings]]
name = "a"
tasks = ["xnli"]

[[settings]]
name = "b"
tasks = ["xnli"]
overrides = ["optim.lr=0.0005"]
""")
    r = subprocess.run([XSTILTS, "sweep", spec], env=h.launch_env(), capture_output=True, text=True, cwd=h.ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    ids = re.findall(r"submitted (\w+) job (\d+)", r.stdout)
    assert [kind for kind, _ in ids] == ["train", "evaluate", "train", "evaluate", "collect"]
    final = wait_final(ids[-1][1], 300)
    assert final["JobState"] == "COMPLETED"
    with open(os.path.join(grid, "grid.json")) as f:
        table = json.load(f)
    assert set(table["cells"]) == {"a", "b"} and table["cells"]["b"]["xnli"]["n"] == 1
    for setting in ("a", "b"):
        assert os.path.isfile(os.path.join(grid, setting, "slurm", "train.sbatch"))
        assert os.path.isfile(os.path.join(grid, setting, "seed1", "results.json"))
    status = subprocess.run([XSTILTS, "status", grid], capture_output=True, text=True, env=h.launch_env())
    lines = status.stdout.splitlines()
    assert len(lines) == 5 and all(line.endswith("done") for line in lines), status.stdout + status.stderr


def test_unknown_partition_is_refused_before_submitting(ws):
    out = ws.run_dir("nowhere")
    cmd = [XSTILTS, "train", ws.recipe, "--out", out, "--launcher", "slurm", "--partition", "nowhere"]
    r = subprocess.run(cmd, env=h.launch_env(), capture_output=True, text=True, cwd=h.ROOT)
    assert r.returncode == 2
    assert "xstilts: error: slurm.partition: unknown partition 'nowhere' (this cluster has: " in r.stderr
    assert not os.path.exists(out)
