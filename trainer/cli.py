"""Command line: argv -> command -> run. No training logic here.

  xstilts train RECIPE [--out DIR] [--resume] [--dry-run [--world-size N] [--hostfile F]] [--help-config]
                [--launcher slurm [--partition P] [--nodes N] [--gpus-per-node G] [--time T] ...]
                [--key.sub=value ...]
  xstilts evaluate RUN_DIR_OR_EXPORT [--out DIR] [--tasks ...] [--chunk-tokens N] [--watch [--max-idle S]]
                   [--perturb KIND ... [--perturb-rates R ...]] [--lexicon F ...]
                   [--attack KIND ... [--attack-budget B ...] [--attack-queries N]]
  xstilts align EXPORT --task {tatoeba,bucc2018,xnli} [--languages ...] [--out DIR]
  xstilts score --predictions P --labels L --out results.json
  xstilts report RUN_DIR ... [--out DIR]
  xstilts sweep SPEC [--dry-run | --collect] [--demo [--ranks N]] [--out DIR] [--launcher slurm [--partition P] ...]
  xstilts tasks
  xstilts demo [--out DIR] [--ranks N] [--hostfile F] [--launcher L] [--key.sub=value ...]
  xstilts status RUN_OR_SWEEP
  xstilts allocation [--hostfile F]

Every command accepts the ``--local_rank`` argument that the deepspeed launcher adds.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from trainer.errors import UserError
from trainer.runtime import preempt, slurm


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)


def _slurm(p: argparse.ArgumentParser) -> None:
    """The [slurm] keys most often set for one submission (each overrides the recipe's or the
    sweep's table; `--slurm.key=value` reaches the others)."""
    g = p.add_argument_group("Slurm (with --launcher slurm; override the [slurm] table)")
    g.add_argument("--partition", default=None)
    g.add_argument("--nodes", type=int, default=None, help="nodes per training job")
    g.add_argument("--gpus-per-node", type=int, default=None, help="GPUs per node, one rank each")
    g.add_argument("--tasks-per-node", type=int, default=None, help="ranks per node (default: one per GPU)")
    g.add_argument("--time", default=None, help="time limit of a training job (Slurm format: 4:00:00, 1-12:00:00)")
    g.add_argument("--account", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__.split("\n")[0])
    _common(parser)  # the deepspeed launcher puts --local_rank before the command
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="run a recipe: intermediate phase(s), target fine-tuning, evaluation")
    p.add_argument("recipe")
    p.add_argument("--out", help="run folder (overrides run.out)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoints")
    p.add_argument("--dry-run", action="store_true", help="validate the recipe without loading weights or data")
    p.add_argument("--help-config", action="store_true", help="print every recipe key with its value "
                   "(recipe and overrides applied) and what it does, then exit")
    p.add_argument("--world-size", type=int, default=None,
                   help="world size assumed by --dry-run (default: the hostfile's slots, else 1)")
    p.add_argument("--hostfile", default=None, help="validate this `host slots=N` file (and take "
                   "the --dry-run world size from it)")
    p.add_argument("--launcher", choices=("slurm",), default=None, help="submit the run to Slurm (batch "
                   "scripts in <run>/slurm/; with --dry-run: print them) instead of running it here")
    _slurm(p)
    _common(p)
    p = sub.add_parser("evaluate", help="zero-shot evaluation of a run or an export, on all ranks")
    p.add_argument("target", help="a run folder (its final exports) or one export folder")
    p.add_argument("--out", help="output folder (default: <target>/eval)")
    p.add_argument("--tasks", nargs="*", default=None, help="tasks to score (default: the recipe's)")
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--split", default=None)
    p.add_argument("--watch", action="store_true", help="score each new export as it appears")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between looks in --watch mode")
    p.add_argument("--max-idle", type=float, default=0.0, help="--watch: stop after this long without a new export")
    p.add_argument("--chunk-tokens", type=int, default=None,
                   help="tokens per work item spread over the ranks (default: eval.chunk_tokens)")
    p.add_argument("--perturb", nargs="+", default=None, metavar="KIND",
                   help="also score under noise: char_swap char_drop char_insert keyboard word_drop "
                        "word_shuffle code_switch (eval.perturb.kinds); writes robustness.json/md")
    p.add_argument("--perturb-rates", nargs="+", type=float, default=None, metavar="R",
                   help="noise rates, each a setting of its own (eval.perturb.rates)")
    p.add_argument("--perturb-seed", type=int, default=None, help="noise seed (eval.perturb.seed)")
    p.add_argument("--attack", nargs="+", default=None, metavar="KIND",
                   help="also score under model-aware attacks: char_greedy codemix_greedy and their "
                        "blind baselines random_char random_codemix (random: both) (eval.attack.kinds); writes robustness.json/md/csv and adversarial/")
    p.add_argument("--attack-budget", nargs="+", type=float, default=None, metavar="B",
                   help="share of words an attack may change, each in (0, 1] and a setting of its own "
                        "(eval.attack.budgets)")
    p.add_argument("--attack-queries", type=int, default=None, metavar="N",
                   help="model queries per attacked example (eval.attack.max_queries)")
    p.add_argument("--attack-seed", type=int, default=None, help="attack seed (eval.attack.seed)")
    p.add_argument("--attack-examples", type=int, default=None, metavar="N",
                   help="examples attacked per task and language (eval.attack.max_examples; 0 = all)")
    p.add_argument("--lexicon", nargs="+", default=None, metavar="F",
                   help="dictionaries: a concept<TAB>language<TAB>form lexicon (code_switch noise and "
                        "code-mix attacks) and/or MUSE SRC-TGT.txt files (code-mix attacks)")
    _common(p)
    p = sub.add_parser("score", help="score XTREME-layout predictions against labels")
    p.add_argument("--predictions", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out", default="results.json")
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--allow-missing", action="store_true", help="score what both folders have; skip "
                   "(warn about and list in results.json) missing, unknown or stray files instead of failing")
    p = sub.add_parser("report", help="mean +- std over runs (seeds)")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default=None)
    p = sub.add_parser("sweep", help="expand an experiment grid (settings x seeds), run it, tabulate")
    p.add_argument("spec", help="sweep spec (TOML; see trainer/recipes/sweeps/)")
    p.add_argument("--dry-run", action="store_true", help="validate every run and print its launcher command")
    p.add_argument("--collect", action="store_true", help="only build the table from finished runs")
    p.add_argument("--demo", action="store_true", help="the same study on the synthetic suite (the spec's "
                   "[demo] table): minutes on a CPU")
    p.add_argument("--out", default=None, help="sweep folder (overrides sweep.out; --demo: runs/<name>-demo)")
    p.add_argument("--ranks", type=int, default=None, help="--demo: ranks of every run (default 1)")
    p.add_argument("--pretrained", default=None, metavar="EXPORT", help="--demo: start from this pretrained "
                   "demo encoder (e.g. another study demo's <out>/pretrained/mlm/export) instead of pretraining")
    p.add_argument("--launcher", choices=("deepspeed", "torchrun", "mpirun", "single", "slurm"), default=None,
                   help="overrides sweep.launcher; slurm submits each setting's seeds as a job array")
    _slurm(p)
    p = sub.add_parser("align", help="cross-lingual alignment of an export's layers on parallel sentences")
    p.add_argument("export", help="an export folder")
    p.add_argument("--task", required=True, choices=("tatoeba", "bucc2018", "xnli"))
    p.add_argument("--languages", nargs="*", default=None, help="default: every language of the task")
    p.add_argument("--split", default=None, help="split holding the parallel sentences "
                   "(default: test; bucc2018: validation, the split with gold pairs)")
    p.add_argument("--data-root", default=None, help="data folder (default: the export's data.root)")
    p.add_argument("--out", default=None, help="output folder (default: <export>/align/<task>)")
    p.add_argument("--max-sentences", type=int, default=1000, help="pairs per language")
    p.add_argument("--batch-size", type=int, default=32)
    sub.add_parser("tasks", help="list tasks: kind, head, languages, training size")
    p = sub.add_parser("demo", help="the full pipeline on the built-in synthetic suite (2 CPU ranks)")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--launcher", choices=("deepspeed", "torchrun", "mpirun", "single", "slurm"), default="deepspeed",
                   help="slurm: submit the training and evaluator jobs and wait for them")
    p.add_argument("--hostfile", default=None, help="`host slots=N` file for the deepspeed or mpirun "
                   "launcher (validated first; ranks = its slots)")
    p.add_argument("--dry-run", action="store_true", help="with --launcher slurm: print the batch scripts")
    _slurm(p)
    p = sub.add_parser("status", help="the Slurm jobs of a run or sweep: pending, running at step N of M, "
                       "done, failed (with the log)")
    p.add_argument("target", help="a run or sweep folder submitted with --launcher slurm")
    p = sub.add_parser("allocation", help="inside a Slurm job: print the rendezvous host and port; "
                       "write the allocation's hostfile")
    p.add_argument("--hostfile", default=None, help="write `host slots=N` lines for deepspeed --hostfile here")
    return parser


# Each command is one module of trainer/commands with a ``run(args, overrides)`` function. The
# module is imported when its command runs: `xstilts score` or `tasks` need neither torch nor
# DeepSpeed, which the training commands import at their top.
COMMANDS = {
    "train": "trainer.commands.train",
    "evaluate": "trainer.commands.evaluate",
    "score": "trainer.commands.score",
    "report": "trainer.commands.report",
    "sweep": "trainer.commands.sweep",
    "align": "trainer.commands.align",
    "tasks": "trainer.commands.tasks",
    "demo": "trainer.commands.demo",
    "status": "trainer.commands.status",
    "allocation": "trainer.commands.allocation",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    bad = [r for r in rest if not (r.startswith("--") and "=" in r)]
    if bad or (rest and args.command not in ("train", "demo")):
        parser.error(f"unrecognized arguments: {' '.join(bad or rest)} "
                     f"(recipe overrides look like --section.key=value and go after `train RECIPE` or `demo`)")
    if args.command == "train":
        # before the seconds of importing torch and DeepSpeed: a time-limit signal that arrived
        # then would end the process (SIGUSR1's default), not checkpoint it
        preempt.install(handle_term=slurm.in_allocation())
    command = importlib.import_module(COMMANDS[args.command])
    try:
        return int(command.run(args, rest) or 0)
    except UserError as err:
        print(f"xstilts: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
