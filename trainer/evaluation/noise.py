"""Noise for the robustness passes of the evaluator: the target sets scored again under each
noise setting of ``eval.perturb`` (kinds x rates, eval/perturb.py), beside the clean pass.

``xstilts evaluate`` runs the clean pass as usual, then, when ``eval.perturb.kinds`` is set (in
the recipe or with ``--perturb``), one more distributed pass per setting on the same export,
and writes ``robustness.json`` / ``robustness.md`` (eval/robustness.py) next to results.json.
The noise is applied where a set is prepared, identically on every rank (it is seeded per
example, not per process), so the work items and their sharding are unchanged.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from eval.perturb import Lexicon, Perturbation, perturb_example, perturb_text, settings

log = logging.getLogger("xstilts.eval")


@dataclass
class Noise:
    """One perturbation setting with what it needs (the lexicon, the code-switch language)."""

    setting: Perturbation
    lexicon: Lexicon | None = None
    switch_to: str = "en"
    # (task, language) -> examples (or source sentences) the noise changed: 0 marks n/a
    changed: dict[tuple[str, str], int] = field(default_factory=dict)

    def apply(self, task, lang: str, examples):
        """A perturbed copy of a ``datasets.Dataset`` of canonical examples (cached by
        fingerprint, like the clean set)."""
        out = self._map(task, lang, examples)
        self.changed[(task.name, lang)] = sum(a != b for a, b in zip(examples, out))
        return out

    def _map(self, task, lang: str, examples):
        # only what the noise is made of reaches the cache key, not the counts kept here
        kwargs = {"setting": self.setting, "lexicon": self.lexicon, "switch_to": self.switch_to,
                  "kind": task.kind, "task": task.name, "lang": lang, "keep": task.fixed_fields}
        return examples.map(_perturb_row, fn_kwargs=kwargs,
                            desc=f"noise {self.setting.name} on {task.name}/{lang}")

    def apply_pairs(self, task, root: str, split: str, lang: str,
                    sentences: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The source side of a retrieval set, perturbed (each text keyed by task, language,
        sentence id and field, like every other text)."""
        def perturb(sid: str, field: str, text: str) -> str:
            if not text:
                return text
            return perturb_text(text, self.setting, (task.name, lang, sid, field), lang,
                                self.lexicon, self.switch_to)

        if self.setting.kind == "code_switch" and self.lexicon is None:
            raise ValueError("code_switch needs a lexicon (eval.perturb.lexicon)")
        out = task.perturb_source(root, split, lang, sentences, perturb)
        self.changed[(task.name, lang)] = sum(a != b for a, b in zip(sentences, out))
        return out


def _perturb_row(row: dict, setting: Perturbation, lexicon: Lexicon | None, switch_to: str, kind: str,
                 task: str, lang: str, keep: tuple) -> dict:
    return perturb_example(kind, row, setting, (task, lang, row["id"]), lang, lexicon, switch_to, keep=keep)


def build_noises(cfg) -> list[Noise]:
    """Every setting of ``cfg.eval.perturb`` (none when its kinds are empty)."""
    pc = cfg.eval.perturb
    if not pc.kinds:
        return []
    lexicon = None
    if pc.lexicon:
        path = pc.lexicon if os.path.isabs(pc.lexicon) else os.path.join(cfg.data.root, pc.lexicon)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"eval.perturb.lexicon: {path} not found")
        lexicon = Lexicon.read(path)
    return [Noise(s, lexicon, pc.switch_to) for s in settings(pc.kinds, pc.rates, pc.seed)]
