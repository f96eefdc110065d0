"""Adversarial passes of the evaluator: the model-aware attacks of eval/attack.py run against an
export, spread over ranks as evaluation is.

For every attack setting (``eval.attack``: each kind at each budget), task and language, the
first ``eval.attack.max_examples`` examples of the split the task's clean score came from are
cut into work items of ``eval.attack.chunk_examples`` consecutive examples; the part of a work
item names its setting. The items depend on the data and the settings only, never on the world
size, and all of them are assigned together (largest estimated cost first, to the least loaded
rank), so the ranks finish together and 1 or N ranks attack the very same items. Within an item
the searches run in lock-step: one batched objective call carries every candidate of one step of
every example (eval/attack.py), so the batches, and therefore the adversarial examples, are the
same on any number of ranks.

The objective here is the model's: candidates are featurized as evaluation featurizes (no
cache: they exist for one step), scored in length-sorted batches by the Predictor, and turned
into outcomes per head kind (eval/attack_results.py: cross-entropy of the gold label or choice;
QA: 1 - F1 of the predicted span, the question attacked only; tagging: mean cross-entropy of the
gold tags, entity tokens never touched). Rank 0 assembles every example exactly once.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from eval import evaluator
from eval.attack import AttackSetting, attack
from eval.attack_report import averages
from eval.attack_results import (AttackResult, Outcome, choice_outcome, span_outcome, summarize, tagging_outcome,
                                 write_examples)
from eval.attack_views import ATTACKABLE_KINDS, View
from eval.evaluator import WorkItem
from eval.lexicon import Dictionary
from eval.results import main_metric, with_em_f1
from trainer.config import Config, max_length_for
from trainer.data.features import featurize
from trainer.data.tokenizer import load_tokenizer_from
from trainer.evaluation import postprocess as pp
from trainer.evaluation.predict import Predictor, run_and_gather
from trainer.model.export import load_export
from trainer.runtime import dist
from trainer.tasks import get_task
from trainer.tasks.base import Task

log = logging.getLogger("xstilts.eval")


def attack_settings(cfg: Config) -> list[AttackSetting]:
    """Every setting of ``eval.attack``: each kind at each budget (none when kinds are empty)."""
    ac = cfg.eval.attack
    return [AttackSetting(kind, float(budget), ac.max_queries, ac.seed, targets=tuple(ac.targets))
            for kind in ac.kinds for budget in ac.budgets]


def read_dictionary(cfg: Config) -> Dictionary | None:
    """The bilingual dictionary of ``eval.attack.lexicon`` (paths relative to data.root)."""
    paths = [p if os.path.isabs(p) else os.path.join(cfg.data.root, p) for p in cfg.eval.attack.lexicon]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"eval.attack.lexicon: {path} not found")
    return Dictionary.read(paths) if paths else None


def attackable(task: Task) -> str | None:
    """Why ``task`` cannot be attacked (None when it can)."""
    if task.kind not in ATTACKABLE_KINDS:
        return f"head kind {task.kind} cannot be attacked (attackable: {', '.join(ATTACKABLE_KINDS)})"
    return None


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Attacker:
    """Runs attack work items (``item.part`` is the setting's name) with the Predictor's model."""

    def __init__(self, predictor: Predictor, settings: list[AttackSetting],
                 dictionary: Dictionary | None, min_f1: float):
        self.predictor, self.dictionary, self.min_f1 = predictor, dictionary, min_f1
        self.settings = {s.name: s for s in settings}
        self.queries = 0  # candidates scored on this rank

    @property
    def on_batch(self):
        return self.predictor.on_batch

    @on_batch.setter
    def on_batch(self, beat) -> None:
        self.predictor.on_batch = beat

    # ------------------------------------------------------------ planning
    def plan(self, tasks: list[Task], languages: list[str] | None, chunk_examples: int
             ) -> tuple[dict, list[WorkItem]]:
        """(examples per (task, lang, setting), work items): the same on every rank."""
        expected: dict[tuple[str, str, str], int] = {}
        items: list[WorkItem] = []
        for task in tasks:
            for lang in task.languages:
                if languages and lang not in languages:
                    continue
                count = self.predictor.prepare(task, lang)[""]
                rows = self.predictor.examples(task.name, lang)
                tokens = self.predictor.costs[(task.name, lang, "")]
                words = [len(View(task.kind, rows[i], task.fixed_fields).slots) for i in range(count)]
                for name, setting in self.settings.items():
                    expected[(task.name, lang, name)] = count
                    costs = [float(t) * estimated_queries(setting, w) for t, w in zip(tokens, words)]
                    for start in range(0, count, chunk_examples):
                        stop = min(start + chunk_examples, count)
                        items.append(WorkItem(sum(costs[start:stop]), task.name, lang, start, stop, name))
        return expected, items

    # ------------------------------------------------------------ running
    def __call__(self, item: WorkItem) -> list[AttackResult]:
        task = self.predictor.tasks[item.task]
        rows = self.predictor.examples(item.task, item.lang)
        examples = [rows[i] for i in range(item.start, item.stop)]
        return attack(examples, lambda batch: self.outcomes(task, batch), self.settings[item.part],
                      task.kind, task.name, item.lang, self.dictionary, task.fixed_fields)

    def outcomes(self, task: Task, candidates: list[dict]) -> list[Outcome]:
        """The model on each candidate example (one batched pass over all of them)."""
        self.queries += len(candidates)
        p, cfg = self.predictor, self.predictor.cfg
        batch = {k: [c[k] for c in candidates] for k in candidates[0]}
        if task.kind == "span":  # candidates of one example share its id: number them instead
            batch["id"] = [str(i) for i in range(len(candidates))]
        cols = featurize(task.kind, batch, p.tokenizer, max_length=max_length_for(cfg, task.name, task.kind),
                         doc_stride=cfg.data.doc_stride, max_query_length=cfg.data.max_query_length,
                         labels=tuple(task.labels), is_train=False)
        rows = [dict(zip(cols, values)) for values in zip(*cols.values())]
        logits = p.logits(task, rows)
        if task.kind in ("classification", "multiple_choice"):
            return [choice_outcome(_softmax(np.asarray(l, dtype=np.float64)), int(c["label"]))
                    for l, c in zip(logits, candidates)]
        if task.kind == "span":
            answers = pp.span_predictions(batch, cols, [l[:, 0] for l in logits], [l[:, 1] for l in logits],
                                          n_best=cfg.eval.n_best, max_answer_length=cfg.eval.max_answer_length)
            return [span_outcome(answers.get(str(i), ""), c["answers"], self.min_f1)
                    for i, c in enumerate(candidates)]
        return self._tagging(task, candidates, cols, logits)

    def _tagging(self, task: Task, candidates: list[dict], cols: dict, logits: list) -> list[Outcome]:
        labels = tuple(task.labels)
        preds = pp.tagging_predictions(cols, logits, labels, [len(c["tokens"]) for c in candidates])
        default = np.eye(len(labels))[labels.index(pp.default_tag(labels))]
        out = []
        for c, word_ids, l, pred in zip(candidates, cols["word_ids"], logits, preds):
            probs = _softmax(np.asarray(l, dtype=np.float64))
            per_word = [probs[w] if w >= 0 else default for w in word_ids]
            got = tagging_outcome(per_word, c["tags"], labels)
            out.append(Outcome(got.loss, list(pred) == list(c["tags"]), list(pred)))
        return out


def estimated_queries(setting: AttackSetting, words: int) -> float:
    """What attacking an example of ``words`` eligible words may cost, in queries (for the
    assignment of work items only: the search itself stops at the cap or a flip)."""
    changed = setting.max_words(words)
    if setting.kind == "random":
        guess = 1 + changed
    else:  # ranking every word, then the candidates of the words it changes (about 8 each)
        guess = 1 + words + 8 * max(changed, 1)
    return float(min(setting.max_queries, max(guess, 1)))


def attack_tasks(cfg: Config, model, tokenizer, tasks: list[Task], split: str,
                 settings: list[AttackSetting], dictionary: Dictionary | None, info: dist.DistInfo,
                 stats: dict | None = None) -> list[AttackResult] | None:
    """Every setting on every language of ``tasks`` (on ``split``), distributed; the results in
    (task, language, setting, example) order on rank 0, None on the other ranks."""
    ac = cfg.eval.attack
    predictor = Predictor(model, tokenizer, cfg, {t.name: t for t in tasks}, split, limit=ac.max_examples)
    attacker = Attacker(predictor, settings, dictionary, ac.min_f1)
    with dist.main_process_first(info):
        expected, items = attacker.plan(tasks, cfg.eval.languages, ac.chunk_examples)
    model.eval()
    merged, reports = run_and_gather(cfg, evaluator.assign(items, info.world_size)[info.rank], attacker, info)
    if not info.is_main:
        return None
    assembled = evaluator.assemble(merged, expected)
    balance = evaluator.balance(reports)
    log.info("attacks: %d examples x settings in %d items on %d ranks; balance (slowest / mean busy "
             "time) %.3f", sum(r.examples for r in reports), sum(r.items for r in reports), len(reports), balance)
    if stats is not None:
        stats.setdefault("passes", []).append(
            {"split": split, "tasks": [t.name for t in tasks], "balance": balance, "items": [r.items for r in reports],
             "busy_s": [r.busy_s for r in reports], "cost": [r.cost for r in reports]})
    return [r for key in sorted(assembled) for r in assembled[key]]


def task_metric(task_name: str, lang: str, predictions: list, golds: list) -> float:
    """The task's main metric (percent) of predictions against golds, as results.json reports it
    (QA: (EM + F1) / 2)."""
    task = get_task(task_name)
    if task.kind in ("classification", "multiple_choice"):
        name = (lambda i: task.labels[i]) if task.labels else (lambda i: i)
        metrics = task.score([name(p) for p in predictions], [name(g) for g in golds], lang)
    elif task.kind == "span":
        ids = [str(i) for i in range(len(golds))]
        metrics = task.score(dict(zip(ids, predictions)), [{"id": i, "answers": a} for i, a in zip(ids, golds)], lang)
    else:
        metrics = task.score(predictions, golds, lang)
    return float(with_em_f1(metrics)[main_metric(task_name, metrics)])


def check_budget_use(results: list[AttackResult], settings: list[AttackSetting]) -> None:
    """Every result kept to its setting's word budget and query cap (an attack that did not is a
    bug, never a figure)."""
    by_name = {s.name: s for s in settings}
    for r in results:
        s = by_name[r.attack]
        if r.words_changed > s.max_words(r.eligible_words) or r.queries > s.max_queries:
            raise RuntimeError(f"{r.task}/{r.lang} {r.id}: {r.attack} changed {r.words_changed} of "
                               f"{r.eligible_words} words with {r.queries} queries (over its budget)")


def attack_plan(cfg: Config, plan, clean: dict, out: str, info: dist.DistInfo, splits: dict | None = None,
                tracker=None, step: int = 0) -> dict | None:
    """Every attack setting on every (export, tasks) of ``plan``, each task on the split its clean
    score came from (``splits``); rank 0 writes the adversarial examples under
    ``out``/adversarial/<setting>/<task>.jsonl and returns the report's attack keys (None on the
    other ranks and when no attack is configured). A task that cannot be attacked (retrieval) or
    has no clean score is left out with its reason under ``not_attacked``."""
    settings = attack_settings(cfg)
    if not settings:
        return None
    dictionary = read_dictionary(cfg)
    results: list[AttackResult] = []
    not_attacked: dict[str, str] = {}
    stats: dict = {}
    for export, names in plan:
        by_split: dict[str, list[Task]] = {}
        for name in names:
            task = get_task(name)
            why = attackable(task) or (None if name in clean else "no clean score (no labelled split)")
            if why:
                not_attacked[name] = why
                continue
            split = (splits or {}).get(name, {}).get("split") or cfg.eval.split
            by_split.setdefault(split, []).append(task)
        if not by_split:
            continue
        model = load_export(export, cfg.model.attn_implementation).to(dist.local_device())
        tokenizer = load_tokenizer_from(export)
        for split, tasks in by_split.items():
            log.info("attacks: %s on %s (%s split)", ", ".join(s.name for s in settings),
                     ", ".join(t.name for t in tasks), split)
            got = attack_tasks(cfg, model, tokenizer, tasks, split, settings, dictionary, info, stats)
            results += got or []
    for name, why in not_attacked.items():
        log.warning("attacks: %s not attacked: %s", name, why)
    if not info.is_main:
        return None
    check_budget_use(results, settings)
    section = summarize_attacks(results, settings)
    section["attack_config"] = {"max_queries": cfg.eval.attack.max_queries, "seed": cfg.eval.attack.seed,
                                "max_examples": cfg.eval.attack.max_examples, "lexicon": list(cfg.eval.attack.lexicon),
                                "min_f1": cfg.eval.attack.min_f1, "passes": stats.get("passes", [])}
    section["not_attacked"] = [{"task": t, "reason": why} for t, why in not_attacked.items()]
    write_adversarial(results, os.path.join(out, "adversarial"))
    if tracker is not None:
        tracker.scalars({f"attack/{s}/{t}/{lang}/{k}": v[k] for s, ts in section["attacks"].items()
                         for t, langs in ts.items() for lang, v in langs.items()
                         for k in ("clean", "attacked", "drop", "success_rate") if v[k] is not None}, step)
    return section


def summarize_attacks(results: list[AttackResult], settings: list[AttackSetting]) -> dict:
    """``{"attacks": {setting: {task: {lang: figures}}}, "attack_averages": ...}`` (settings in
    the configured order; eval/attack_report.py)."""
    attacks = {}
    for s in settings:
        mine = [r for r in results if r.attack == s.name]
        if mine:
            attacks[s.name] = summarize(mine, task_metric)
    return {"attacks": attacks, "attack_averages": averages(attacks)}


def write_adversarial(results: list[AttackResult], root: str) -> None:
    """One JSONL file per setting and task: every attacked example (original, perturbed, gold,
    prediction before and after, words changed, queries), languages in order."""
    groups: dict[tuple[str, str], list[AttackResult]] = {}
    for r in results:
        groups.setdefault((r.attack, r.task), []).append(r)
    for (setting, task), rs in groups.items():
        write_examples(rs, os.path.join(root, setting, f"{task}.jsonl"))
