"""Slurm batch scripts, as text: a run's training job (or a job array, one element per run of
a sweep setting), its evaluator, and a sweep's collector.

Plain sbatch scripts rather than pickled callables: they are written into the run folder, read
like any batch script, and resubmitted with ``sbatch`` (docs/cluster.md says more). Nothing here
talks to Slurm; submit.py does.

Inside a training job: ``srun`` starts one task per rank (ranks from the step's variables,
runtime/slurm.py), or one deepspeed launcher per node with the allocation's hostfile. The
ranks get SIGUSR1 ``signal_s`` before the time limit, checkpoint at the end of the step and
exit 85; the script then requeues the job, and the requeued job resumes from that checkpoint.
"""
from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field

from trainer.commands.common import ROOT
from trainer.config.schema import SlurmConfig
from trainer.runtime.preempt import REQUEUE_EXIT

SCRIPTS = "slurm"  # the folder of a run (or sweep setting) that holds its scripts and logs


@dataclass
class Job:
    """One sbatch submission: a script, and the job it must wait for."""

    kind: str  # train, evaluate or collect
    script: str  # where the script is written
    text: str
    log: str  # the --output pattern
    after: list[int] = field(default_factory=list)  # indices of earlier jobs of the same plan
    dependency: str = ""  # afterok, aftercorr, after or afterany (on the jobs in `after`)
    runs: list[str] = field(default_factory=list)  # run folders, in array order (one if no array)
    array: str = ""  # --array indices, e.g. "0,2"


def ranks_per_node(sc: SlurmConfig) -> int:
    return sc.tasks_per_node or sc.gpus_per_node or 1


def world_size(sc: SlurmConfig) -> int:
    return sc.nodes * ranks_per_node(sc)


def job_name(name: str, kind: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).strip("-") or "run"
    return f"xstilts-{kind}-{clean}"


def _header(sc: SlurmConfig, name: str, log: str, nodes: int, tasks: int, gpus: int, time: str,
            array: str = "", signal: bool = False, single_task: bool = False) -> list[str]:
    opts = [f"--job-name={name}", f"--output={log}", "--open-mode=append"]
    opts += ["--ntasks=1"] if single_task else [f"--nodes={nodes}", f"--ntasks-per-node={tasks}"]
    if gpus and not single_task:
        opts.append(f"--gpus-per-node={gpus}")
    for flag, value in (("--cpus-per-task", sc.cpus_per_task), ("--mem", sc.mem), ("--time", time),
                        ("--partition", sc.partition), ("--account", sc.account), ("--array", array)):
        if value:
            opts.append(f"{flag}={value}")
    if signal:
        opts.append(f"--signal=USR1@{sc.signal_s}")
        opts.append("--requeue" if sc.requeue else "--no-requeue")
    opts += list(sc.options)
    return [f"#SBATCH {o}" for o in opts]


def _prologue(sc: SlurmConfig, per_node: int) -> list[str]:
    threads = f"$(( SLURM_CPUS_ON_NODE / {per_node} > 0 ? SLURM_CPUS_ON_NODE / {per_node} : 1 ))"
    return ["set -uo pipefail", f"cd {shlex.quote(ROOT)}",
            "# the ranks find each other through Slurm's variables, not the submitting shell's",
            "unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT",
            f"export PYTHONPATH={shlex.quote(ROOT)}${{PYTHONPATH:+:$PYTHONPATH}}",
            f"export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}",
            "export TOKENIZERS_PARALLELISM=false", *sc.setup]


def _python(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "trainer.cli", *args])


def _ranks(sc: SlurmConfig, train_args: str) -> list[str]:
    """Start the ranks in the background (the shell only waits for them)."""
    python = shlex.quote(sys.executable)
    cpus = f" --cpus-per-task={sc.cpus_per_task}" if sc.cpus_per_task else ""
    # scancel and pre-emption send SIGTERM to this shell too; it must outlive its ranks, which
    # get the same signal from Slurm and need the time to write their checkpoint
    trap = "trap 'echo \"xstilts: SIGTERM: the ranks write a checkpoint and stop\"' TERM"
    if sc.launcher == "srun":
        return [trap, f"srun{cpus} {python} -m trainer.cli {train_args} &"]
    launcher = shlex.quote(sys.executable.rsplit("/", 1)[0] + "/deepspeed")
    # One deepspeed launcher per node, no ssh, each told its node's rank, with all the node's
    # CPUs. Slurm signals every process of a step, and the launcher would die of the SIGUSR1
    # meant for the ranks: it ignores it (the ranks, its children, install their own handler).
    node = (f"trap '' USR1; exec {launcher} --hostfile \"$OUT/{SCRIPTS}/hostfile\" --no_ssh "
            f"--node_rank=$SLURM_NODEID --master_addr=$ADDR --master_port=$PORT --module trainer.cli \"$@\"")
    return [f"read -r ADDR PORT < <({python} -m trainer.cli allocation --hostfile \"$OUT/{SCRIPTS}/hostfile\")",
            "export ADDR PORT OUT", trap,
            f"srun --ntasks-per-node=1 --ntasks=$SLURM_JOB_NUM_NODES --cpus-per-task=$SLURM_CPUS_ON_NODE "
            f"bash -c {shlex.quote(node)} deepspeed {train_args} &"]


def _wait_and_requeue(sc: SlurmConfig, script: str) -> list[str]:
    lines = ["ranks=$!",
             "# SIGTERM interrupts `wait` (the trap above), not the ranks: wait again until they are done",
             "while :; do wait \"$ranks\"; rc=$?; kill -0 \"$ranks\" 2>/dev/null || break; done"]
    if sc.requeue:
        lines += [f"if [ \"$rc\" -eq {REQUEUE_EXIT} ]; then",
                  "    echo \"xstilts: checkpoint written before the time limit; requeueing job $SLURM_JOB_ID\"",
                  "    # Slurm ends this script as it requeues the job (SIGTERM, which ends the wait",
                  "    # below at once); the requeued job resumes. Once the requeue is accepted this",
                  "    # instance's exit status is of no use, and a non-zero one could mark it failed.",
                  "    if scontrol requeue \"$SLURM_JOB_ID\"; then",
                  "        trap 'exit 0' TERM",
                  "        sleep 300 & wait $!",
                  "        exit 0",
                  "    fi",
                  f"    echo \"xstilts: scontrol requeue failed; resubmit with: sbatch {script}\"",
                  "fi"]
    return lines + ["exit \"$rc\""]


def _pick_run(runs: list[tuple[str, list[str]]], array: str) -> list[str]:
    """OUT (the run folder) and ARGS (its overrides): fixed, or chosen by the array index."""
    if not array:
        out, overrides = runs[0]
        return [f"OUT={shlex.quote(out)}", f"ARGS=({shlex.join(overrides)})"]
    return ['case "$SLURM_ARRAY_TASK_ID" in',
            *(f"    {i}) OUT={shlex.quote(out)}; ARGS=({shlex.join(overrides)}) ;;" for i, (out, overrides) in enumerate(runs)),
            '    *) echo "xstilts: no run for array index $SLURM_ARRAY_TASK_ID"; exit 2 ;;', "esac"]


def train_job(sc: SlurmConfig, name: str, folder: str, recipe: str, runs: list[tuple[str, list[str]]],
              array: str = "") -> Job:
    """The training job of one run, or a job array over ``runs`` [(run folder, overrides)] of
    one sweep setting (element i trains runs[i])."""
    script, log = f"{folder}/{SCRIPTS}/train.sbatch", f"{folder}/{SCRIPTS}/train-{'%A_%a' if array else '%j'}.out"
    eval_off = [] if sc.evaluate == "inline" else ["--eval.inline=false"]
    runs = [(out, [*overrides, *eval_off]) for out, overrides in runs]
    per_node = ranks_per_node(sc)
    lines = ["#!/bin/bash", f"# xstilts: training of {name}, {sc.nodes} node(s) x {per_node} rank(s).",
             f"# Submit again with `sbatch {script}`: it resumes from the run's last checkpoint.",
             *_header(sc, job_name(name, "train"), log, sc.nodes, per_node, sc.gpus_per_node, sc.time,
                      array, signal=True), *_prologue(sc, per_node), *_pick_run(runs, array),
             'echo "xstilts: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, restart ${SLURM_RESTART_COUNT:-0}, $(date -Is)"',
             *_ranks(sc, f'train {shlex.quote(recipe)} --out "$OUT" --resume "${{ARGS[@]}}"'),
             *_wait_and_requeue(sc, script)]
    return Job("train", script, "\n".join(lines) + "\n", log, runs=[r for r, _ in runs], array=array)


def evaluate_job(sc: SlurmConfig, name: str, folder: str, runs: list[str], train_index: int,
                 array: str = "") -> Job:
    """The evaluator of a run (or of each element of a sweep setting's array): after training
    succeeded (``afterok``; ``aftercorr`` element by element), or beside it (``--watch``)."""
    script, log = f"{folder}/{SCRIPTS}/evaluate.sbatch", f"{folder}/{SCRIPTS}/evaluate-{'%A_%a' if array else '%j'}.out"
    watch = sc.evaluate == "watch"
    per_node = ranks_per_node(sc)
    if array:
        pick = ['case "$SLURM_ARRAY_TASK_ID" in', *(f"    {i}) OUT={shlex.quote(r)} ;;" for i, r in enumerate(runs)),
                '    *) echo "xstilts: no run for array index $SLURM_ARRAY_TASK_ID"; exit 2 ;;', "esac"]
    else:
        pick = [f"OUT={shlex.quote(runs[0])}"]
    args = '--watch --max-idle 3600 --out "$OUT/eval"' if watch else '--out "$OUT"'
    after = "once its training job has started, scoring each export as it appears" if watch else \
        "once its training job has succeeded"
    dep = "after" if watch else ("aftercorr" if array else "afterok")
    lines = ["#!/bin/bash", f"# xstilts: zero-shot evaluation of {name}, {after}.",
             f"# Submit again with `sbatch --dependency={dep}:TRAIN_JOB_ID {script}` (or without it).",
             *_header(sc, job_name(name, "evaluate"), log, 1, per_node, sc.gpus_per_node, sc.eval_time or sc.time,
                      array), "#SBATCH --kill-on-invalid-dep=yes", *_prologue(sc, per_node), *pick,
             f"exec srun {shlex.quote(sys.executable)} -m trainer.cli evaluate \"$OUT\" {args}"]
    return Job("evaluate", script, "\n".join(lines) + "\n", log, after=[train_index], dependency=dep,
               runs=list(runs), array=array)


def collect_job(sc: SlurmConfig, spec: str, folder: str, after: list[int]) -> Job:
    """A sweep's table, once every run's evaluator has ended (whatever the outcome: the table
    says which runs are missing)."""
    script, log = f"{folder}/{SCRIPTS}/collect.sbatch", f"{folder}/{SCRIPTS}/collect-%j.out"
    lines = ["#!/bin/bash", "# xstilts: the sweep's table (grid.md, grid.json, grid.csv) from its finished runs.",
             f"# Run it again any time with `sbatch {script}` or `xstilts sweep {spec} --collect`.",
             *_header(sc, job_name(spec.rsplit("/", 1)[-1].removesuffix(".toml"), "collect"), log, 1, 1, 0,
                      sc.eval_time or sc.time, single_task=True),
             *_prologue(sc, 1), f"exec {_python('sweep', spec, '--collect')}"]
    return Job("collect", script, "\n".join(lines) + "\n", log, after=after, dependency="afterany", runs=[folder])
