"""A rank that dies, raises, hangs or produces NaN losses: the job ends within a minute, leaves
no process behind, says which rank failed, and keeps its work (XSTILTS_FAULT injection, real
launchers, 2 CPU ranks, a tiny model)."""
from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests import helpers as h
from trainer.runtime import dist, ended, faults, peers
from trainer.training.loop import NonFiniteLoss, check_finite
from trainer.training.state import TrainState

LIMIT_S = 60  # every other rank must be gone this long after the fault fired


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return h.make_workspace(str(root), tok=h.session_tok(tmp_path_factory))


def ended_after_fault(result: h.Result) -> float:
    """Seconds from the fault to the launcher's exit; asserts a prompt, clean, non-zero end."""
    assert result.rc not in (0, None), f"job did not fail as it should (rc={result.rc}):\n{result.tail()}"
    took = result.ended - h.fault_time(result.output)
    print(f"\n[fault timing] {' '.join(os.path.basename(c) for c in result.cmd[:3])}: "
          f"rc={result.rc}, ended {took:.1f} s after the fault")
    assert took < LIMIT_S, f"the job took {took:.0f} s to end after the fault:\n{result.tail()}"
    assert not result.leftovers, f"processes left behind: {result.leftovers}"
    return took


def faulted(ws, tmp_path, fault: str, launcher: str = "deepspeed", extra: tuple = ()) -> h.Result:
    """A 2-rank training job under ``launcher`` with ``XSTILTS_FAULT=fault``."""
    return h.run(h.train_cmd(launcher, ws.recipe, str(tmp_path / "run"), extra=list(extra)),
                 str(tmp_path / "log"), fault=fault, timeout=150)


@pytest.mark.slow
def test_killed_rank_ends_the_job_and_is_named(ws, tmp_path):
    r = faulted(ws, tmp_path, "kill@3:1")
    ended_after_fault(r)
    # The surviving rank says who died (the launcher's own line names whichever rank it
    # spawned last, whoever died): from its failed collective, or, when the launcher's SIGTERM
    # comes first, from its SIGTERM report.
    assert ("rank 1 died first; rank 0 failed because of that" in r.output
            or "rank 1 ended first (died); rank 0 was ended because of that" in r.output), r.tail()
    assert "peer rank 1 (pid" in r.output and "EXITED" in r.output


@pytest.mark.slow
def test_rank_ended_by_the_launcher_outside_a_collective_names_the_dead_one(ws, tmp_path):
    # Rank 0 is busy (outside any collective) when rank 1 dies: no collective fails on rank 0,
    # and only the launcher's SIGTERM ends it. Its report of that SIGTERM still names rank 1.
    r = faulted(ws, tmp_path, "kill@3:1,hang@3:0")
    ended_after_fault(r)
    assert "xstilts: rank 0: got SIGTERM" in r.output, r.tail()
    assert "outside any collective" in r.output
    assert "xstilts: rank 0: peer rank 1 (pid" in r.output and "EXITED" in r.output, r.tail()
    assert "rank 1 ended first (died); rank 0 was ended because of that" in r.output, r.tail()


@pytest.mark.slow
def test_raising_rank_ends_the_job(ws, tmp_path):
    r = faulted(ws, tmp_path, "raise@3:1")
    ended_after_fault(r)
    assert "xstilts: rank 1 [inter]: failed after finishing step 2: InjectedFault" in r.output, r.tail()
    # Rank 0 names rank 1 from the mark it left in the store, even while its process still exits.
    assert ("rank 0: peer rank 1 (pid" in r.output and "FAILED before this rank: InjectedFault" in r.output
            and ("rank 1 failed first; rank 0 failed because of that" in r.output
                 or "rank 1 ended first (failed); rank 0 was ended because of that" in r.output)), r.tail()


@pytest.mark.slow
def test_stuck_rank_ends_by_the_collective_timeout(ws, tmp_path):
    # The watchdog is off: only the collective timeout (ZeRO's gradient group included) can
    # end this job; with torch's default it would wait 30 minutes.
    extra = ["--deepspeed.timeout_s=15", "--deepspeed.watchdog_s=0"]
    r = faulted(ws, tmp_path, "hang@3:1", extra=extra)
    took = ended_after_fault(r)
    assert took >= 14, "ended before the collective timeout could have fired"
    assert "Timed out" in r.output, r.tail()
    assert "rank 1 is alive but outside any collective" in r.output, r.tail()


@pytest.mark.slow
def test_stuck_rank_under_mpirun_ends_by_the_watchdog(ws, tmp_path):
    extra = ["--deepspeed.timeout_s=600", "--deepspeed.watchdog_s=15"]
    r = faulted(ws, tmp_path, "hang@3:1", launcher="mpirun", extra=extra)
    ended_after_fault(r)  # rc: the watchdog's 75, or rank 0's abort once its peer is gone
    # The stuck rank's watchdog fires first (the waiting rank gives it a head start) and names it.
    assert "xstilts watchdog: rank 1 [inter] made no progress" in r.output, r.tail()
    assert "this rank itself is stuck" in r.output


@pytest.mark.slow
def test_python_exception_under_mpirun_does_not_hang(ws, tmp_path):
    r = faulted(ws, tmp_path, "raise@3:1", launcher="mpirun")
    ended_after_fault(r)
    assert "InjectedFault" in r.output


@pytest.mark.slow
def test_dead_node_ends_the_other_node(ws, tmp_path):
    # Two launchers (two "nodes" on loopback): node 0's launcher cannot see node 1's rank die,
    # so only our side (the failed collective and its report) ends rank 0.
    hostfile = h.two_node_hostfile(str(tmp_path / "hosts"))
    port = dist.free_port()
    cmds = [h.node_cmd(i, hostfile, port, ws.recipe, str(tmp_path / "run")) for i in (0, 1)]
    envs = [h.launch_env(fault="kill@3:1") for _ in cmds]
    node0, node1 = h.run_nodes(cmds, [str(tmp_path / "log0"), str(tmp_path / "log1")], timeout=150,
                               envs=envs)
    t_fault = h.fault_time(node1.output)
    assert node1.rc not in (0, None) and node0.rc not in (0, None)
    took = node0.ended - t_fault
    print(f"\n[fault timing] two-node deepspeed, rank 1 killed: node 0 ended {took:.1f} s after the fault")
    assert took < LIMIT_S and not node0.leftovers and not node1.leftovers
    assert "rank 1 died first" in node0.output, node0.tail()


@pytest.mark.slow
def test_nan_loss_stops_with_a_usable_checkpoint(ws, tmp_path):
    out = str(tmp_path / "run")
    extra = ["--deepspeed.precision=bf16", "--deepspeed.max_nonfinite_steps=2", "--checkpoint.every=2"]
    r = h.run(h.train_cmd("single", ws.recipe, out, ranks=1, extra=extra), str(tmp_path / "log"),
              fault="nan@3", timeout=120)
    assert r.rc not in (0, None)
    assert "stopping at step 4: 2 consecutive steps had a non-finite loss" in r.output, r.tail()
    assert "DeepSpeed skipped 1 of the last 1 steps" in r.output
    rows = {row["step"]: row for row in h.metric_rows(out) if "train/skipped_steps" in row}
    assert rows[4]["train/skipped_steps"] == 2 and rows[2]["train/skipped_steps"] == 0
    with open(os.path.join(h.ckpt_dir(out), "latest")) as f:
        assert f.read().strip() == "step_0000004"
    # The checkpoint left behind resumes (without the fault) to the end, with finite losses.
    r = h.run(h.train_cmd("single", ws.recipe, out, ranks=1, extra=extra + ["--resume"]),
              str(tmp_path / "log2"), timeout=120)
    assert r.rc == 0, r.tail()
    assert "resumed at step 4" in r.output
    losses = h.losses(out)
    assert all(losses[s] == losses[s] for s in (5, 6))  # not NaN


# ---------------------------------------------------------------- in-process pieces


def test_fault_specs_parse_and_refuse(monkeypatch):
    assert faults.parse("kill@3:1") == ("kill", 3, 1)
    assert faults.parse("killsave@4") == ("killsave", 4, None)
    for bad in ("boom@3", "kill@x", "kill@3:y", "kill"):
        with pytest.raises(ValueError, match="kind@step"):
            faults.parse(bad)
    # several faults at once, each for its own rank (or every rank)
    monkeypatch.setenv(faults.ENV, "kill@3:1, hang@4:0,nan@5")
    assert faults._specs(0) == [("hang", 4), ("nan", 5)]
    assert faults._specs(1) == [("kill", 3), ("nan", 5)]
    assert faults._steps("nan", 1) == [5] and faults._steps("hang", 1) == []
    monkeypatch.setenv(faults.ENV, "killsave@2,killsave@4:0,")  # every spec counts; a trailing comma is nothing
    assert faults._steps("killsave", 0) == [2, 4] and faults._steps("killsave", 1) == [2]

    def killed():
        raise faults.InjectedFault("killed")

    monkeypatch.setattr(faults, "_kill_self", killed)
    for step, fires in ((2, True), (3, False), (4, True)):
        if fires:
            with pytest.raises(faults.InjectedFault):
                faults.during_save(step, 0)
        else:
            faults.during_save(step, 0)
    monkeypatch.setenv(faults.ENV, "raise@3:0,raise@5")  # each fires at its step only
    for step, rank in ((2, 0), (4, 0), (3, 1), (6, 1)):
        faults.maybe_fail(step, rank)
    for step, rank in ((3, 0), (5, 0), (5, 1)):
        with pytest.raises(faults.InjectedFault, match=f"rank {rank} at step {step}"):
            faults.maybe_fail(step, rank)
    monkeypatch.setenv(faults.ENV, "kill@3:1,boom@2")
    with pytest.raises(ValueError, match="'boom@2'"):
        faults.maybe_fail(1, 0)


class _Engine:
    def __init__(self):
        self.skipped_steps = 0


def test_check_finite_counts_consecutive_bad_steps():
    state, engine = TrainState(), _Engine()

    def log_at(step: int, loss: float, skipped: int = 0) -> None:
        state.step = step
        engine.skipped_steps += skipped
        check_finite({"train/loss/xnli": loss}, state, engine, max_steps=3)

    log_at(1, 1.0)
    log_at(2, float("nan"))
    log_at(3, 1.0, skipped=1)  # a finite loss but a skipped update (fp16 overflow) is bad too
    assert state.nonfinite == 2
    log_at(4, 1.0)
    assert state.nonfinite == 0  # a good step ends the run of bad ones
    log_at(5, float("inf"))
    log_at(6, float("nan"))
    with pytest.raises(NonFiniteLoss, match="3 consecutive steps"):
        log_at(7, float("nan"))


@pytest.mark.slow
def test_watchdog_ends_a_stuck_process_and_says_where():
    code = ("import time; from trainer.runtime.watchdog import Watchdog\n"
            "w = Watchdog(1.0, 'rank 7 [drill]')\n"
            "time.sleep(60)\n")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=h.ROOT, env=h.launch_env())
    assert p.returncode == 75
    assert time.monotonic() - t0 < 15
    assert "rank 7 [drill] made no progress" in p.stderr
    assert "not in a collective" in p.stderr


@pytest.mark.slow
def test_collective_timeout_reaches_groups_created_later():
    # ZeRO creates its gradient groups with new_group() and no timeout; they must get ours.
    code = ("import datetime, torch, torch.distributed as td\n"
            "from trainer.runtime import dist\n"
            "info = dist.discover(); dist.init(info, '', 17)\n"
            "g = td.new_group([0])\n"
            "print(g._get_backend(torch.device('cpu')).options._timeout.total_seconds())\n"
            "dist.shutdown()\n")
    env = h.launch_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(dist.free_port()), RANK="0", WORLD_SIZE="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=h.ROOT, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert float(p.stdout.strip().splitlines()[-1]) == 17.0


class _Store:
    def __init__(self, data: dict[str, str]):
        self.data = data

    def check(self, keys):
        return all(k in self.data for k in keys)

    def get(self, key):
        return self.data[key].encode()

    def set(self, key, value):
        self.data[key] = value

    def add(self, key, amount):
        self.data[key] = str(int(self.data.get(key, "0")) + amount)
        return int(self.data[key])


def test_causes_say_how_the_peers_ended():
    peers_of = [(0, "unreachable", "store"), (2, "failed", "x"), (3, "busy", "y"), (4, "ended", "z"),
                (5, "after", "w"), (10, "gone", "v"), (6, "waiting", "u")]
    c = peers.Causes.of(peers_of)
    assert (c.gone, c.how, c.busy, c.store_gone) == (["0", "2", "10"], "failed or died", ["3"], True)
    assert peers.Causes.of([(2, "failed", "x"), (5, "after", "w")]).how == "failed"
    c = peers.Causes.of([(1, "gone", "x"), (4, "ended", "z")])
    assert (c.gone, c.how, c.store_gone) == (["1"], "died", False)
    assert peers.Causes.of([(1, "alive", "x"), (5, "after", "w")]).gone == []


@pytest.mark.slow
def test_peer_report_tells_dead_stuck_and_silent_ranks_apart(monkeypatch, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    store = _Store({
        "xstilts/proc/1": f'{{"host": "{host}", "pid": {dead.pid}}}',
        "xstilts/proc/2": f'{{"host": "{host}", "pid": {os.getpid()}}}',
        "xstilts/beat/2": "5 2 0 faults.py:80 in maybe_fail()",
        "xstilts/proc/3": '{"host": "elsewhere", "pid": 1}',
        "xstilts/beat/3": "9 2 1 loop.py:168 in train()",
    })
    monkeypatch.setattr(peers, "rendezvous_store", lambda: store)
    monkeypatch.setattr(peers, "_initialized", lambda: True)
    monkeypatch.setattr(peers, "_reported", [False])
    info = dist.DistInfo(rank=0, world_size=4)
    states = {r: (status, text) for r, status, text in peers.describe_peers(info, wait_s=0.01)}
    assert states[1][0] == "gone" and "EXITED" in states[1][1]
    assert states[2][0] == "busy" and "faults.py:80" in states[2][1]
    assert states[3][0] == "gone" and "SILENT" in states[3][1]  # its heartbeat did not advance
    peers.report_failure(info, 2, RuntimeError("boom"), "[inter]")
    err = capsys.readouterr().err
    assert "rank 0 [inter]: failed after finishing step 2: RuntimeError: boom" in err
    assert "rank 1, 3 died first" in err
    assert store.data.pop("xstilts/failed/0") == "1 RuntimeError: boom"  # for the peers, below
    del store.data["xstilts/failures"]
    # The launcher's SIGTERM that follows adds one line, not the same report again.
    assert peers.ended_report(info) == ["xstilts: rank 0: ended after the failure reported above"]
    assert capsys.readouterr().err == ""
    # A rank that the SIGTERM finds before any failure of its own reports the peers itself.
    monkeypatch.setattr(peers, "_reported", [False])
    assert peers.ended_report(info) == []
    err = capsys.readouterr().err
    assert "xstilts: rank 0: peer rank 1 (pid" in err and "EXITED" in err
    assert "xstilts: rank 0: rank 1, 3 ended first (died); rank 0 was ended because of that" in err
    assert store.data["xstilts/ended/0"] == "1"  # recorded first, for the ranks ended after it
    # A peer ended by its launcher before this rank is not a cause.
    store.data["xstilts/ended/1"] = "1"
    monkeypatch.setattr(peers, "_reported", [False])
    peers.ended_report(dist.DistInfo(rank=0, world_size=3))
    err = capsys.readouterr().err
    assert "peer rank 1 (pid" in err and "EXITED after its launcher's SIGTERM" in err
    assert "rank 0: no peer ended before it of its own accord: rank 0 was ended from outside" in err
    # A peer that marked itself failed is a cause, even while its process is still alive.
    store.data["xstilts/failed/2"] = "1 RuntimeError: own fault"
    monkeypatch.setattr(peers, "_reported", [False])
    peers.ended_report(dist.DistInfo(rank=0, world_size=3))
    err = capsys.readouterr().err
    assert "peer rank 2 (pid" in err and "FAILED before this rank: RuntimeError: own fault" in err
    assert err.count("peer rank 2 (") == 1, err  # described once, by its mark
    assert "rank 0: rank 2 ended first (failed); rank 0 was ended because of that" in err
    # This rank fails after it: the mark is second, rank 2 is named first
    monkeypatch.setattr(peers, "_reported", [False])
    store.data["xstilts/failures"] = "1"
    peers.report_failure(dist.DistInfo(rank=0, world_size=3), 5, RuntimeError("closed\nby peer"), "[inter]")
    assert store.data["xstilts/failed/0"] == "2 RuntimeError: closed by peer"
    assert "rank 0: rank 2 failed first; rank 0 failed because of that" in capsys.readouterr().err
    # ... and rank 2's view: rank 0 failed after it, not a cause; its first mark stays
    monkeypatch.setattr(peers, "_reported", [False])
    store.data["xstilts/proc/0"] = f'{{"host": "{host}", "pid": {os.getpid()}}}'
    peers.report_failure(dist.DistInfo(rank=2, world_size=3), 5, RuntimeError("again"), "[inter]")
    assert store.data["xstilts/failed/2"] == "1 RuntimeError: own fault"
    err = capsys.readouterr().err
    assert "peer rank 0 (pid" in err and "failed after this rank: RuntimeError: closed by peer" in err
    assert "rank 2: no peer failed or died before it: rank 2 failed on its own" in err
    for key in ("xstilts/failed/0", "xstilts/failed/2", "xstilts/failures", "xstilts/proc/0"):
        del store.data[key]
    monkeypatch.setattr(peers, "rendezvous_store", lambda: _Store({}))
    monkeypatch.setattr(peers, "_reported", [False])
    peers.ended_report(dist.DistInfo(rank=0, world_size=2))
    assert "rank 1: never announced itself" in capsys.readouterr().err

    def gone():
        raise ConnectionError("store gone")

    # Rank 0 (the store's server) is gone: the cause cannot be told from rank 2.
    monkeypatch.setattr(peers, "rendezvous_store", gone)
    monkeypatch.setattr(peers, "_reported", [False])
    peers.ended_report(dist.DistInfo(rank=2, world_size=3))
    err = capsys.readouterr().err
    assert "rank 0: the rendezvous store it serves at" in err
    assert "rank 2: rank 0, which serves the rendezvous store, has ended: whether it failed" in err
    # ... while a rank that fails on that finds rank 0 the cause, as before
    monkeypatch.setattr(peers, "_reported", [False])
    peers.report_failure(dist.DistInfo(rank=2, world_size=3), 4, RuntimeError("closed"), "[inter]")
    assert "rank 2: rank 0 died first; rank 2 failed because of that" in capsys.readouterr().err
    # The watchdog's report of the peers counts as this rank's report too.
    monkeypatch.setattr(peers, "rendezvous_store", lambda: store)
    monkeypatch.setattr(peers, "_reported", [False])
    assert any("EXITED" in line for line in peers.watchdog_hooks(info)["peers"]())
    assert peers.ended_report(info) == ["xstilts: rank 0: ended after the failure reported above"]


ENDED = """
import os, signal, sys, time
from trainer.runtime import ended
mode = sys.argv[1]
if mode == "handled":
    signal.signal(signal.SIGTERM, lambda *_: print("own handler", flush=True))
signal.signal(signal.SIGUSR1, lambda *_: print("usr1", flush=True))

def say():
    if mode == "slow":
        time.sleep(60)
    return ["xstilts: rank 3: peer rank 1: EXITED", "xstilts: rank 3: rank 1 ended first"]

ok = ended.install("rank 3", say, limit_s=2.0 if mode == "slow" else 60.0)
if mode == "fork":  # a forked child (a worker pool's) ends on SIGTERM and leaves this process be
    ready, tell = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(tell, b"x")  # the fork hooks have run
        time.sleep(20)
        os._exit(0)
    os.read(ready, 1)
    os.kill(pid, signal.SIGTERM)
    print(f"child status {os.waitpid(pid, 0)[1]}", flush=True)
if mode == "uninstalled":
    ended.uninstall()
if mode == "replaced":  # another module's wakeup fd: the main thread's handler reports instead
    theirs = os.pipe()
    os.set_blocking(theirs[1], False)
    signal.set_wakeup_fd(theirs[1])
print(f"installed={ok}", flush=True)
if mode in ("report", "slow", "fork"):  # SIGTERM blocked in the main thread: only the thread can act
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
read, _ = os.pipe()
os.read(read, 1)  # blocked in a system call: a handler that runs resumes it, only an exit ends it
"""


@pytest.mark.parametrize("mode", ["report", "slow", "uninstalled", "handled", "fork", "replaced"])
def test_sigterm_report_comes_while_the_main_thread_is_blocked(mode):
    p = subprocess.Popen([sys.executable, "-c", ENDED, mode], cwd=h.ROOT, env=h.launch_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if mode == "fork":
            assert p.stdout.readline().strip() == f"child status {signal.SIGTERM.value}"
        assert p.stdout.readline().strip() == f"installed={mode != 'handled'}"
        p.send_signal(signal.SIGUSR1)  # another signal with a Python handler: not an end
        assert p.stdout.readline().strip() == "usr1"
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        if mode == "handled":  # someone else's SIGTERM handler: left alone, the process goes on
            assert p.stdout.readline().strip() == "own handler"
            with pytest.raises(subprocess.TimeoutExpired):
                p.wait(timeout=1.5)
            return
        rc = p.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    err = p.stderr.read()
    if mode == "uninstalled":  # SIGTERM's default action again: the process ends by the signal
        assert rc == -signal.SIGTERM and "got SIGTERM" not in err
        return
    assert rc == ended.EXIT, err
    assert "xstilts: rank 3: got SIGTERM (t=" in err
    assert "its main thread is at <string>:" in err and "outside any collective" in err, err
    if mode in ("report", "fork", "replaced"):
        assert "xstilts: rank 3: peer rank 1: EXITED\nxstilts: rank 3: rank 1 ended first" in err
    else:  # a report that never comes does not keep the process alive past the limit (2 s)
        assert "peer rank 1" not in err and took > 1.9


def test_timeout_constant_is_not_torch_default():
    # The recipe default is short: a stuck rank must not hold the job for torch's 30 minutes.
    from trainer.config import DeepSpeedConfig

    assert datetime.timedelta(seconds=DeepSpeedConfig().timeout_s) < datetime.timedelta(minutes=30)


@pytest.mark.slow
def test_slow_work_on_the_main_process_outlasts_the_collective_timeout(tmp_path):
    # Rank 0 fills a cache for longer than the collective timeout while rank 1 waits for it.
    script = h.write_text(str(tmp_path / "slow.py"), (
        "import time\n"
        "from trainer.runtime import dist\n"
        "info = dist.discover(); dist.init(info, '', 3)\n"
        "with dist.main_process_first(info):\n"
        "    if info.rank == 0:\n"
        "        time.sleep(6)\n"
        "dist.barrier()\n"
        f"open(f'{tmp_path}/done.{{info.rank}}', 'w').close()\n"
        "dist.shutdown()\n"))
    r = h.run([os.path.join(h.BIN, "torchrun"), "--nproc-per-node", "2", "--master-port",
               str(dist.free_port()), script], str(tmp_path / "log"), timeout=120)
    assert r.rc == 0, r.tail()
    # Each rank leaves its own mark: two ranks printing at once interleave their output.
    assert (tmp_path / "done.0").exists() and (tmp_path / "done.1").exists(), r.tail()
