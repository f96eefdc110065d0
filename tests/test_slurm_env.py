"""Slurm without a cluster, in milliseconds: host lists and per-node counts read as Slurm writes
them, ranks and the rendezvous of an srun task, the allocation as a hostfile, the batch scripts
(`bash -n` checks their syntax), the [slurm] table's checks, `--dry-run`, the status of jobs
from `scontrol` output, and the stop flag set by signals. tests/test_slurm.py runs the same
things against a real cluster."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests import helpers as h
from trainer.commands import slurm_jobs, status
from trainer.config import Config, ConfigError, SlurmConfig, check_slurm, time_seconds
from trainer.runtime import dist, preempt, slurm
from trainer.runtime.hostfile import parse_hostfile

# ---------------------------------------------------------------- host lists and counts


@pytest.mark.parametrize("text, hosts", [
    ("node[01-03,07],gpu-a[1-2]", ["node01", "node02", "node03", "node07", "gpu-a1", "gpu-a2"]),
    ("vm", ["vm"]),
    ("n[8-11]", ["n8", "n9", "n10", "n11"]),
    ("n[098-101]", ["n098", "n099", "n100", "n101"]),
    ("r[1-2]-n[1-2]", ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]),
    ("a1,b[2],c.example.org", ["a1", "b2", "c.example.org"]),
])
def test_host_lists_expand_as_slurm_does(text, hosts):
    assert slurm.expand_hostlist(text) == hosts


@pytest.mark.parametrize("text, why", [
    ("node[1-", "'[' without ']'"), ("node[3-1]", "runs backwards"), ("a[]", "empty brackets"),
    ("a]b", "']' without '['"), ("a,,b", "empty entry"), ("n[a-b]", "bad range"), ("x[1[2]]", "nested"),
    ("bad$name", "not a host name"), ("", "empty host list"),
])
def test_unreadable_host_lists_name_the_variable_and_value(text, why):
    with pytest.raises(slurm.SlurmEnvError) as err:
        slurm.expand_hostlist(text, "SLURM_STEP_NODELIST")
    assert str(err.value).startswith(f"SLURM_STEP_NODELIST={text!r}: ") and why in str(err.value)


def test_per_node_counts():
    assert slurm.expand_counts("2(x3),1") == [2, 2, 2, 1]
    assert slurm.expand_counts("8") == [8]
    with pytest.raises(slurm.SlurmEnvError, match="SLURM_TASKS_PER_NODE='2x3': cannot read"):
        slurm.expand_counts("2x3")


# ---------------------------------------------------------------- ranks and rendezvous


def srun_env(**extra: str) -> dict:
    """What srun gives task 3 of 4 on the second of two nodes."""
    env = {"SLURM_JOB_ID": "123456", "SLURM_STEP_ID": "0", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
           "SLURM_NODEID": "1", "SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "4",
           "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_STEP_NODELIST": "gpu[07-08]",
           "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_TASKS_PER_NODE": "2(x2)"}
    env.update(extra)
    return env


def test_an_srun_task_knows_its_rank_and_rendezvous():
    env = srun_env()
    assert slurm.is_rank_step(env)
    assert slurm.step_ranks(env) == (3, 4, 1, 2)
    assert slurm.rendezvous(env) == ("gpu07", slurm.PORT_BASE + 123456 % slurm.PORT_SPAN)
    assert slurm.rendezvous(srun_env(MASTER_PORT="29999", MASTER_ADDR="x")) == ("x", 29999)


def test_the_batch_script_and_mpi_proxies_are_not_rank_steps():
    batch = {k: v for k, v in srun_env().items() if not k.startswith("SLURM_STEP")}
    assert not slurm.is_rank_step(batch)  # one process of a 4-task job: not 4 ranks
    assert "not in an srun step" in slurm.lone_process_note(batch)
    # mpirun started its proxies with srun: one task per node, but MPI's world is 8
    assert not slurm.is_rank_step(srun_env(SLURM_STEP_NUM_TASKS="2", PMI_SIZE="8"))
    assert slurm.is_rank_step(srun_env(PMI_SIZE="4"))  # srun --mpi=pmi2: the tasks are the ranks


def test_ports_stay_unprivileged_and_apart():
    ports = [slurm.job_port({"SLURM_JOB_ID": str(j)}) for j in range(1, 40000, 7)]
    assert all(slurm.PORT_BASE <= p < slurm.PORT_BASE + slurm.PORT_SPAN for p in ports)
    assert all(p < 32768 for p in ports)  # below Linux's ephemeral range
    near = [slurm.job_port({"SLURM_JOB_ID": str(j)}) for j in range(5000, 5100)]
    assert len(set(near)) == 100  # concurrent jobs (close ids) on one node never share one
    steps = {slurm.job_port({"SLURM_JOB_ID": "42", "SLURM_STEP_ID": str(s)}) for s in range(4)}
    assert len(steps) == 4  # nor do two steps of a job (training and a watching evaluator)


TORCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _unset(monkeypatch, key: str) -> None:
    # delenv of an absent variable records nothing, so a value the code under test exports
    # would outlive the test (MASTER_ADDR=gpu07 reaching a later in-process evaluation): set
    # it first, so that undoing restores "absent"
    monkeypatch.setenv(key, "")
    monkeypatch.delenv(key)


def test_discover_reads_an_srun_step(monkeypatch):
    for key in (*TORCH_VARS, *dist.MPI_RANK_VARS):  # discover() exports these: restored afterwards
        _unset(monkeypatch, key)
    for key, value in srun_env().items():
        monkeypatch.setenv(key, value)
    info = dist.discover()
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size, info.launcher) == (3, 4, 1, 2, "slurm")
    assert os.environ["MASTER_ADDR"] == "gpu07" and os.environ["RANK"] == "3"


def test_allocation_as_a_hostfile(tmp_path):
    env = {"SLURM_JOB_NODELIST": "node[1-2],big", "SLURM_TASKS_PER_NODE": "2(x2),4"}
    hosts = slurm.allocation_hosts(env)
    assert hosts == {"node1": 2, "node2": 2, "big": 4}
    path = slurm.write_hostfile(hosts, str(tmp_path / "hostfile"))
    assert parse_hostfile(path) == hosts  # what deepspeed --hostfile and the validator read
    assert slurm.allocation_hosts({**env, "SLURM_GPUS_PER_NODE": "a100:8"}) == {"node1": 8, "node2": 8, "big": 8}
    with pytest.raises(slurm.SlurmEnvError, match="3 hosts"):
        slurm.allocation_hosts({**env, "SLURM_TASKS_PER_NODE": "2"})


def test_no_allocation_and_a_bad_node_list_stop_before_anything_starts(tmp_path, monkeypatch, capsys):
    for key in [k for k in os.environ if k.startswith("SLURM_") and k != "SLURM_CONF"]:
        monkeypatch.delenv(key)
    rc, out = h.cli(["allocation"], capsys)
    assert rc == 2 and "SLURM_JOB_NODELIST is not set: not inside a Slurm allocation" in out
    ws = h.make_workspace(str(tmp_path / "ws"))
    for key, value in srun_env(SLURM_STEP_NODELIST="gpu[07-", SLURM_PROCID="0").items():
        monkeypatch.setenv(key, value)
    for key in TORCH_VARS:
        _unset(monkeypatch, key)
    run = str(tmp_path / "run")
    rc, out = h.cli(["train", ws.recipe, "--out", run], capsys)
    assert rc == 2 and "xstilts: error: SLURM_STEP_NODELIST='gpu[07-': '[' without ']'" in out
    assert not os.path.exists(run)  # nothing started, nothing written


# ---------------------------------------------------------------- batch scripts


def sc(**kw) -> SlurmConfig:
    return SlurmConfig(**{"partition": "gpu", "nodes": 2, "gpus_per_node": 4, "time": "4:00:00", **kw})


def bash_ok(text: str, tmp_path) -> None:
    path = h.write_text(str(tmp_path / "script.sh"), text)
    out = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + text


def test_training_script_asks_for_the_signal_and_requeues(tmp_path):
    job = slurm_jobs.train_job(sc(options=["--qos=low"], setup=["module load cuda"]), "mnli", "/r/mnli",
                               "/p/recipe.toml", [("/r/mnli", ["--run.seed=3"])])
    bash_ok(job.text, tmp_path)
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --time=4:00:00", "#SBATCH --partition=gpu", "#SBATCH --signal=USR1@300",
                 "#SBATCH --requeue", "#SBATCH --qos=low", "#SBATCH --output=/r/mnli/slurm/train-%j.out",
                 "module load cuda", "ARGS=(--run.seed=3 --eval.inline=false)",
                 'scontrol requeue "$SLURM_JOB_ID"', f'if [ "$rc" -eq {preempt.REQUEUE_EXIT} ]; then'):
        assert line in job.text.splitlines() or line in job.text, line
    assert "srun " in job.text and '--out "$OUT" --resume "${ARGS[@]}" &' in job.text
    assert "--kill-on-bad-exit" not in job.text  # it would turn the ranks' exit 85 into 143
    inline = slurm_jobs.train_job(sc(evaluate="inline", requeue=False), "x", "/r", "/p.toml", [("/r", [])])
    assert "--eval.inline=false" not in inline.text and "scontrol requeue" not in inline.text
    assert "#SBATCH --no-requeue" in inline.text


def test_deepspeed_route_writes_the_allocation_hostfile(tmp_path):
    job = slurm_jobs.train_job(sc(launcher="deepspeed"), "x", "/r", "/p.toml", [("/r", [])])
    bash_ok(job.text, tmp_path)
    assert 'trainer.cli allocation --hostfile "$OUT/slurm/hostfile"' in job.text
    assert "--ntasks-per-node=1" in job.text and "--no_ssh --node_rank=$SLURM_NODEID" in job.text
    assert "trap '\"'\"''\"'\"' USR1" in job.text  # the launcher ignores the ranks' signal


def test_sweep_setting_is_an_array_with_its_evaluators(tmp_path):
    runs = [(f"/s/a/seed{k}", [f"--run.seed={k}"]) for k in (1, 2, 3)]
    train = slurm_jobs.train_job(sc(), "g/a", "/s/a", "/p.toml", runs, array="0,2")
    ev = slurm_jobs.evaluate_job(sc(), "g/a", "/s/a", [r for r, _ in runs], 0, array="0,2")
    for job in (train, ev):
        bash_ok(job.text, tmp_path)
        assert "#SBATCH --array=0,2" in job.text and "%A_%a" in job.log
    assert "    2) OUT=/s/a/seed3; ARGS=(--run.seed=3 --eval.inline=false) ;;" in train.text
    assert ev.dependency == "aftercorr" and "--kill-on-invalid-dep=yes" in ev.text
    watch = slurm_jobs.evaluate_job(sc(evaluate="watch"), "x", "/r", ["/r"], 0)
    assert watch.dependency == "after" and '--watch --max-idle 3600 --out "$OUT/eval"' in watch.text


@pytest.mark.parametrize("change, message", [
    ({"time": "4h"}, "slurm.time: '4h' is not a Slurm time"),
    ({"time": "5", "signal_s": 300}, "slurm.signal_s = 300 is not below slurm.time = 5"),
    ({"evaluate": "later"}, "slurm.evaluate: expected after, watch or inline"),
    ({"partition": "gpu a"}, "slurm.partition: 'gpu a' holds characters"),
    ({"options": ["qos=low"]}, "slurm.options.0: expected an sbatch option"),
    ({"nodes": 0}, "slurm.nodes: expected at least 1"),
])
def test_slurm_table_is_checked(change, message):
    with pytest.raises(ConfigError, match=message):
        check_slurm(SlurmConfig(**change), "slurm")


def test_slurm_times():
    assert [time_seconds(t) for t in ("30", "30:15", "2:00:00", "1-0", "1-2:3", "")] == \
        [1800, 1815, 7200, 86400, 93780, None]


def test_dry_run_prints_the_scripts_and_writes_nothing(tmp_path, capsys):
    ws = h.make_workspace(str(tmp_path / "ws"))
    run = str(tmp_path / "run")
    rc, out = h.cli(["train", ws.recipe, "--out", run, "--launcher", "slurm", "--dry-run", "--partition", "gpu",
                     "--tasks-per-node", "2", "--time", "1:00:00"], capsys)
    assert rc == 0, out
    assert f"# ---- job 1: sbatch {run}/slurm/train.sbatch" in out
    assert f"# ---- job 2: sbatch --dependency=afterok:<job 1: train> {run}/slurm/evaluate.sbatch" in out
    assert "#SBATCH --partition=gpu" in out and "#SBATCH --ntasks-per-node=2" in out
    assert not os.path.exists(run)
    # the recipe is checked for the jobs' world size: a global batch of 16 cannot split over 3
    rc, out = h.cli(["train", ws.recipe, "--out", run, "--launcher", "slurm", "--dry-run",
                     "--tasks-per-node", "3"], capsys)
    assert rc == 2 and "divisible" in out, out


def test_without_slurm_commands_the_error_says_so(tmp_path, monkeypatch, capsys):
    ws = h.make_workspace(str(tmp_path / "ws"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    rc, out = h.cli(["train", ws.recipe, "--out", str(tmp_path / "run"), "--launcher", "slurm"], capsys)
    assert rc == 2 and "sinfo not found: --launcher slurm needs Slurm's client commands" in out


# ---------------------------------------------------------------- status


SCONTROL = """JobId=31 ArrayJobId=30 ArrayTaskId=1 JobName=x JobState=RUNNING Reason=None ExitCode=0:0 Restarts=0
JobId=30 ArrayJobId=30 ArrayTaskId=2-3 JobName=x JobState=PENDING Reason=Resources ExitCode=0:0 Restarts=0
JobId=32 ArrayJobId=30 ArrayTaskId=0 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0 Restarts=0
"""


def test_status_reads_scontrol_and_the_run_folder(tmp_path):
    states = {s.job_id: s for s in status.parse_scontrol(SCONTROL)}
    assert sorted(states) == ["30_0", "30_1", "30_2", "30_3"]
    run = str(tmp_path / "run")
    h.write_text(os.path.join(run, "progress.json"), json.dumps({"run": "inter", "step": 12, "steps": 40}))
    assert status.describe("train", states["30_1"], run, "L") == "running at step 12 of 40 (inter)"
    assert status.describe("train", states["30_2"], run, "L") == "pending (Resources)"
    assert status.describe("train", states["30_0"], run, "/r/log") == "failed (failed, exit 1:0), log: /r/log"
    requeued = status.JobState("9", None, "PENDING", "BeginTime", "0:0", 1)
    assert status.describe("train", requeued, run, "L") == "pending (BeginTime, requeued 1 time(s))"
    assert status.describe("evaluate", status.JobState("9", None, "COMPLETED"), run, "L") == "done"
    gone = status.JobState("9", None, "")
    assert status.describe("evaluate", gone, run, "L").startswith("unknown (Slurm no longer lists it)")
    h.write_text(os.path.join(run, "results.json"), "{}")
    assert status.describe("evaluate", gone, run, "L") == "done"


# ---------------------------------------------------------------- stop requests


def test_signals_set_the_stop_request():
    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        preempt.reset()
        preempt.install(handle_term=False)
        assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]  # outside Slurm: untouched
        os.kill(os.getpid(), signal.SIGUSR1)
        assert preempt.requested() == preempt.REQUEUE_EXIT == 85
        preempt.install(handle_term=True)
        os.kill(os.getpid(), signal.SIGTERM)
        assert preempt.requested() == preempt.STOP_EXIT  # a cancel outranks a requeue
        assert dist.all_reduce_max(preempt.requested()) == preempt.STOP_EXIT  # one process: itself
    finally:
        preempt.reset()
        for s, handler in before.items():
            signal.signal(s, handler)


def test_config_has_a_slurm_table_with_safe_defaults():
    cfg = Config()
    assert cfg.slurm.evaluate == "after" and cfg.slurm.requeue and cfg.slurm.signal_s == 300
    assert slurm_jobs.world_size(SlurmConfig(nodes=2, gpus_per_node=8)) == 16
    assert slurm_jobs.world_size(SlurmConfig(tasks_per_node=2)) == 2
