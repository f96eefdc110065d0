"""`xstilts sweep`: the spec is typed and checked, the paper's grid expands to every run (each
validated like `train --dry-run`), runs go one after another with finished ones skipped, and
the table gives mean ± std over seeds, the delta to the baseline and the best setting."""
from __future__ import annotations

import json
import os
import shlex
import sys

import pytest

from eval.grid import build_grid, to_markdown
from eval.results import aggregate_runs, build_results
from tests import helpers as h
from trainer.commands import sweep

ROOT = h.ROOT
PAPER = os.path.join(ROOT, "trainer", "recipes", "sweeps", "paper_grid.toml")
FOLLOW_UPS = os.path.join(ROOT, "trainer", "recipes", "sweeps", "follow_ups.toml")
NINE = ["anli_plus", "mnli", "qqp", "sst2", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg"]
TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"]


def write_spec(tmp_path, sweep_table: str, settings: str) -> str:
    return h.write_text(str(tmp_path / "spec.toml"), f"[sweep]\n{sweep_table}\n{settings}")


# ---------------------------------------------------------------- the paper's grid


def test_paper_grid_expands_to_every_run():
    spec = sweep.load_spec(PAPER)
    assert [s.name for s in spec.settings] == ["baseline", *NINE, "multitask"]
    runs = sweep.expand(spec)
    assert len(runs) == 11 * 3
    assert len({r.out for r in runs}) == len(runs)
    by = {(r.setting, r.seed): r for r in runs}
    base, mnli, multi = by[("baseline", 1)], by[("mnli", 2)], by[("multitask", 3)]
    assert "--phases.0.tasks=[]" in base.overrides  # no intermediate training
    assert '--phases.0.tasks=["mnli"]' in mnli.overrides and "--run.seed=2" in mnli.overrides
    assert f"--phases.0.tasks={json.dumps(NINE, separators=(',', ':'))}" in multi.overrides
    assert all(f"--phases.1.tasks={json.dumps(TARGETS, separators=(',', ':'))}" in r.overrides for r in runs)
    cfg = sweep.validate(mnli, 8)  # the resolved config of one run, checked for 8 ranks
    assert cfg.phases[0].tasks == ["mnli"] and cfg.run.seed == 2 and cfg.run.out == mnli.out
    cfg = sweep.validate(base, 8)
    assert cfg.phases[0].tasks == [] and cfg.phases[0].retrieval == ["bucc2018", "tatoeba"]


@pytest.mark.slow
def test_sweep_dry_run_prints_one_launcher_line_per_run(capsys):
    rc, out = h.cli(["sweep", PAPER, "--dry-run"], capsys)
    assert rc == 0, out
    lines = [line for line in out.splitlines() if "trainer.cli" in line]
    assert len(lines) == 33
    argv = shlex.split(lines[0])
    assert os.path.basename(argv[0]) == "deepspeed" and argv[argv.index("--num_gpus") + 1] == "8"
    assert argv[argv.index("train") + 1].endswith("xlmr_large_multitask.toml")
    assert "# 33 runs: 11 settings x 3 seeds" in out


def test_cpu_grid_on_the_synthetic_suite_expands_and_validates():
    spec = sweep.load_spec(os.path.join(ROOT, "trainer", "recipes", "sweeps", "demo_grid.toml"))
    runs = sweep.expand(spec)
    assert len(runs) == 6 * 2
    for run in runs:
        cfg = sweep.validate(run, 2)
        assert cfg.data.synthetic and cfg.data.synthetic_seed == 0  # one data set for every seed
        assert cfg.phases[0].max_steps == 300
    seeds = {r.seed for r in runs}
    assert seeds == {1, 2}


def test_follow_up_grid_mixes_overrides_and_own_recipes():
    spec = sweep.load_spec(FOLLOW_UPS)
    runs = {(r.setting, r.seed): r for r in sweep.expand(spec)}
    chain = runs[("squad_v2.mnli", 1)]
    assert chain.recipe.endswith("xlmr_large_squad_mnli.toml")
    assert not any(o.startswith("--phases.0.") for o in chain.overrides)  # the recipe runs as it is
    assert "--phases.2.tasks=" in " ".join(chain.overrides)  # its target phase is the third
    cfg = sweep.validate(runs[("multitask+mlm", 1)], 8)
    assert cfg.sampler.fixed == {"mlm": 0.2} and "mlm" in cfg.phases[0].tasks
    for run in runs.values():
        sweep.validate(run, 8)


# ---------------------------------------------------------------- the spec is checked


@pytest.mark.parametrize("table, settings, message", [
    ('recipe = "x.toml"\nseed = [1]', '[[settings]]\nname = "a"', "unknown key sweep.seed"),
    ('recipe = "x.toml"\nseeds = "1"', '[[settings]]\nname = "a"', "sweep.seeds: expected a list"),
    ('recipe = "x.toml"', '[[settings]]\nname = "a"\n[[settings]]\nname = "a"', "appear twice"),
    ('recipe = "x.toml"\nbaseline = "none"', '[[settings]]\nname = "a"', "no setting named 'none'"),
    ('recipe = "x.toml"\nlauncher = "pbs"', '[[settings]]\nname = "a"', "sweep.launcher"),
    ('recipe = "x.toml"', '[[settings]]\nname = "a b"', "use letters, digits"),
    ('recipe = "x.toml"\nper_target = true\nbaseline = ""', '[[settings]]\nname = "a"', "needs sweep.targets"),
    ('recipe = "x.toml"\nlauncher = "single"\nranks = 2', '[[settings]]\nname = "a"', "starts one process"),
    ('recipe = "x.toml"\nbaseline = "a"', '[[settings]]\nname = "a"\n[[contrasts]]\nname = "c"\nplus = ["a"]\n'
     'minus = ["b"]', r"contrasts.0: needs a name .*unknown setting\(s\) \['b'\]"),
    ('recipe = "x.toml"\nbaseline = "a"', '[[settings]]\nname = "a"\n[[contrasts]]\nname = "c"\nplus = ["a"]',
     "contrasts.0: needs a name and settings in `plus` and `minus`"),
])
def test_bad_specs_are_refused(tmp_path, table, settings, message):
    with pytest.raises(sweep.SweepError, match=message):
        sweep.load_spec(write_spec(tmp_path, table, settings))


def test_each_expands_in_place_and_per_target_splits_runs(tmp_path):
    path = write_spec(tmp_path, f'recipe = "{PAPER.replace("sweeps/paper_grid.toml", "xlmr_large_multitask.toml")}"\n'
                      'seeds = [7]\ntargets = ["xnli", "pawsx"]\nper_target = true',
                      '[[settings]]\nname = "baseline"\n[[settings]]\nname = "one-"\neach = true\n'
                      'tasks = ["mnli", "qqp"]\n[[settings]]\nname = "z"\ntasks = ["sst2"]')
    spec = sweep.load_spec(path)
    assert [s.name for s in spec.settings] == ["baseline", "one-mnli", "one-qqp", "z"]
    runs = sweep.expand(spec)
    assert [(r.setting, r.target) for r in runs][:3] == [("baseline", "xnli"), ("baseline", "pawsx"),
                                                         ("one-mnli", "xnli")]
    assert runs[1].out.endswith(os.path.join("baseline", "seed7", "pawsx"))
    assert '--phases.1.tasks=["pawsx"]' in runs[1].overrides
    names = [o for r in runs for o in r.overrides if o.startswith("--run.name=")]
    assert len(set(names)) == len(runs) and names[1].endswith("/baseline/seed7/pawsx")
    assert all("--checkpoint.resume=true" in r.overrides for r in runs)  # a stopped run continues


def test_per_target_runs_merge_into_one_result_per_seed(tmp_path):
    path = write_spec(tmp_path, f'recipe = "{PAPER.replace("sweeps/paper_grid.toml", "xlmr_large_multitask.toml")}"\n'
                      f'out = "{tmp_path / "grid"}"\nseeds = [1, 2]\ntargets = ["xnli", "pawsx"]\n'
                      'per_target = true\nbaseline = "baseline"',
                      '[[settings]]\nname = "baseline"\ntasks = []\n[[settings]]\nname = "mnli"\ntasks = ["mnli"]')
    spec = sweep.load_spec(path)
    runs = sweep.expand(spec)
    for r in runs:  # each run scored its own target only
        score = {"xnli": 70, "pawsx": 80}[r.target] + r.seed + (4 if r.setting == "mnli" else 0)
        h.write_text(os.path.join(r.out, "results.json"), json.dumps(results({r.target: score})))
    grid = sweep.collect(spec, runs)
    assert grid["columns"] == ["xnli", "pawsx"]
    cell = grid["cells"]["mnli"]["pawsx"]  # en 85, 86 and de 10 lower: 80, 81
    assert cell["n"] == 2 and cell["mean"] == pytest.approx(80.5) and cell["delta"] == pytest.approx(4.0)
    report = json.load(open(tmp_path / "grid" / "mnli" / "report" / "results.json"))
    assert set(report["tasks"]) == {"xnli", "pawsx"}
    merged = sweep._merge([results({"xnli": 70}), results({"pawsx": 80})])
    assert merged == results({"xnli": 70, "pawsx": 80})  # scores recomputed over both targets


# ---------------------------------------------------------------- the table


def results(scores: dict[str, float]) -> dict:
    return build_results({t: {"en": {"accuracy": v}, "de": {"accuracy": v - 10}} for t, v in scores.items()},
                         task_info={t: {"metric": "accuracy"} for t in scores})


def test_grid_table_mean_std_delta_and_best():
    aggs = {"baseline": aggregate_runs([results({"xnli": 70, "pawsx": 80}), results({"xnli": 72, "pawsx": 80})]),
            "mnli": aggregate_runs([results({"xnli": 75, "pawsx": 79}), results({"xnli": 77, "pawsx": 81})]),
            "qqp": aggregate_runs([results({"xnli": 71, "pawsx": 84})])}
    grid = build_grid(aggs, "baseline", ["baseline", "mnli", "qqp", "empty"], expected_runs=2)
    assert grid["columns"] == ["xnli", "pawsx"]
    x = grid["cells"]["mnli"]["xnli"]  # averages over languages: 71, 73 -> mean 72, std sqrt(2)
    assert x["mean"] == pytest.approx(71.0) and x["std"] == pytest.approx(2 ** 0.5) and x["n"] == 2
    assert x["delta"] == pytest.approx(71.0 - 66.0)
    assert grid["cells"]["baseline"]["xnli"]["delta"] is None
    assert grid["best"]["xnli"]["setting"] == "mnli" and grid["best"]["pawsx"]["setting"] == "qqp"
    assert grid["average"]["qqp"]["delta"] == pytest.approx((66 + 79) / 2 - (66 + 75) / 2)
    md = to_markdown(grid)
    assert "| mnli | 71.0 ± 1.4 (+5.0) |" in md
    assert "[n=1]" in md  # qqp has one of the two seeds
    assert "| empty | - | - | - |" in md
    assert "| best intermediate | mnli | qqp | |" in md


@pytest.mark.slow
def test_local_sweep_runs_in_turn_skips_finished_and_tabulates(tmp_path, monkeypatch, capsys):
    """Each run's command is replaced by a stand-in that writes the results a run would write,
    so the orchestration is tested without training (the training pipeline has its own tests)."""
    recipe = PAPER.replace(os.path.join("sweeps", "paper_grid.toml"), "xlmr_large_multitask.toml")
    path = write_spec(tmp_path, f'recipe = "{recipe}"\nout = "{tmp_path / "grid"}"\nseeds = [1, 2]\n'
                      'launcher = "single"', '[[settings]]\nname = "baseline"\ntasks = []\n'
                      '[[settings]]\nname = "mnli"\ntasks = ["mnli"]')
    started = []

    def stand_in(spec, run):
        started.append((run.setting, run.seed))
        score = 70 + run.seed + (5 if run.setting == "mnli" else 0)
        body = json.dumps(results({"xnli": score}))
        code = (f"import os, sys; os.makedirs({run.out!r}, exist_ok=True); "
                f"open(os.path.join({run.out!r}, 'results.json'), 'w').write({body!r}); "
                f"sys.exit(3 if {run.setting == 'baseline' and run.seed == 2} and not os.path.exists({str(tmp_path / 'ok')!r}) else 0)")
        return [sys.executable, "-c", code]

    monkeypatch.setattr(sweep, "command", stand_in)
    rc, out = h.cli(["sweep", path], capsys)
    assert rc == 3 and "failed (exit 3)" in out
    assert started == [("baseline", 1), ("baseline", 2)]  # stops at the first failure
    os.remove(os.path.join(tmp_path, "grid", "baseline", "seed2", "results.json"))
    h.write_text(str(tmp_path / "ok"), "")
    started.clear()
    rc, out = h.cli(["sweep", path], capsys)
    assert rc == 0, out
    assert started == [("baseline", 2), ("mnli", 1), ("mnli", 2)]  # the finished run is skipped
    grid = json.load(open(tmp_path / "grid" / "grid.json"))
    assert grid["cells"]["mnli"]["xnli"]["mean"] == pytest.approx(71.5)  # en 76, 77 and de 10 lower: 71, 72
    assert grid["cells"]["mnli"]["xnli"]["delta"] == pytest.approx(5.0)
    assert os.path.isfile(tmp_path / "grid" / "mnli" / "report" / "results.json")
    # +5 on both seeds: the paired interval is [+5, +5], so mnli beats the baseline and is best
    assert "| mnli | 71.5 ± 0.7 (+5.0 [+5.0, +5.0] p=0.00) |" in out
    assert grid["cells"]["mnli"]["xnli"]["seeds"] == [1, 2] and grid["best"]["xnli"]["setting"] == "mnli"


def test_lanes_share_the_cores_and_fix_threads(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def lanes(table: str):
        path = write_spec(tmp_path, f'recipe = "r.toml"\n{table}', '[[settings]]\nname = "baseline"')
        return sweep.local_lanes(sweep.load_spec(path))

    assert lanes("ranks = 2")[0] == 1 and lanes("ranks = 2")[1]["OMP_NUM_THREADS"] == "4"
    parallel, env = lanes("ranks = 2\nparallel = 0\nthreads = 1")
    assert (parallel, env["OMP_NUM_THREADS"]) == (4, "1")  # 4 runs x 2 ranks x 1 thread = 8 cores
    parallel, env = lanes("ranks = 1\nparallel = 2")
    assert (parallel, env["OMP_NUM_THREADS"]) == (2, "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a fixed thread count wins over the user's
    assert lanes("parallel = 0\nthreads = 1")[1]["OMP_NUM_THREADS"] == "1"
    for bad in ("parallel = -1", "threads = true", "parallel = 1.5"):
        with pytest.raises(sweep.SweepError, match="sweep.(parallel|threads)"):
            lanes(bad)


def test_parallel_sweep_runs_two_at_a_time_and_stops_starting_after_a_failure(tmp_path, monkeypatch, capsys):
    """Stand-ins record when they run: never more than 2 at once, 2 at once at some point; a
    failed run lets the running one finish, starts no other, and shows its log's last lines."""
    recipe = PAPER.replace(os.path.join("sweeps", "paper_grid.toml"), "xlmr_large_multitask.toml")
    out = tmp_path / "grid"
    path = write_spec(tmp_path, f'recipe = "{recipe}"\nout = "{out}"\nseeds = [1, 2, 3]\n'
                      'launcher = "single"\nparallel = 2\nthreads = 1',
                      '[[settings]]\nname = "baseline"\ntasks = []\n[[settings]]\nname = "mnli"\ntasks = ["mnli"]')
    spans = tmp_path / "spans"
    spans.mkdir()
    monkeypatch.setattr(sweep, "validate", lambda run, world: None)  # no recipe checks: stand-ins only

    def stand_in(spec, run):
        score = 70 + run.seed + (5 if run.setting == "mnli" else 0)
        body = json.dumps(results({"xnli": score}))
        fail = run.setting == "mnli" and run.seed == 1 and not os.path.exists(tmp_path / "ok")
        code = (f"import os, sys, time; t = time.time(); time.sleep(0.6); "
                f"print('threads', os.environ['OMP_NUM_THREADS']); "
                f"open({str(spans / f'{run.setting}-{run.seed}')!r}, 'w').write(f'{{t}} {{time.time()}}'); "
                f"sys.exit(print('boom in', {run.setting!r}) or 4) if {fail} else None; "
                f"os.makedirs({run.out!r}, exist_ok=True); "
                f"open(os.path.join({run.out!r}, 'results.json'), 'w').write({body!r})")
        return [sys.executable, "-c", code]

    monkeypatch.setattr(sweep, "command", stand_in)
    rc, text = h.cli(["sweep", path], capsys)
    assert rc == 4 and "failed (exit 4)" in text and "boom in mnli" in text  # the log's tail
    started = sorted(os.listdir(spans))
    # baseline 1-3 and mnli 1 ran; mnli 1 failed while another was running, so mnli 2 and 3 never started
    assert "mnli-2" not in started and "mnli-3" not in started and {"baseline-1", "baseline-2", "mnli-1"} <= set(started)
    times = [tuple(map(float, (spans / name).read_text().split())) for name in started]
    overlap = max(sum(a <= t < b for a, b in times) for t, _ in times)
    assert overlap == 2
    log = (out / "logs" / "baseline-seed1.log").read_text()
    assert "threads 1" in log
    h.write_text(str(tmp_path / "ok"), "")
    rc, text = h.cli(["sweep", path], capsys)
    assert rc == 0, text
    assert "| mnli | 72.0 ± 1.0 (+5.0" in text  # every seed of both settings (en and de averaged)
