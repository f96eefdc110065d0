"""Model-aware adversarial attacks: a search, per canonical example, for the few word edits that
make the model wrong. The model stays outside: the caller gives a batched objective.

Kinds:
  char_greedy     words ranked by importance (how much the loss moves when the word is removed,
                  or replaced by ``mask``); then, word by word in that order, the character edit
                  (swap, drop, insert, keyboard neighbour: eval/perturb.py's edits) that raises
                  the loss most is kept, until the prediction flips or a budget is spent
  codemix_greedy  the same search; a word's candidates are its translations into other
                  languages from a bilingual dictionary (eval/lexicon.py)
  random          the same candidate edits (character, and code-mix when a dictionary is given)
                  on words drawn at random, one random edit per word, at the same budgets
  random_char     random's search with character edits only: the baseline of char_greedy
  random_codemix  random's search with translations only: the baseline of codemix_greedy
A greedy kind's drop minus its matched random kind's drop at the same budget is what the search
adds over placing the same edits blindly.
Examples the model gets wrong unattacked are not searched (they count as not flipped).

Objective: ``objective(candidates: list[dict]) -> list[Outcome | (loss, correct[, prediction])]``,
one outcome per candidate example, in order (eval/attack_results.py defines loss and
correctness per head kind). One call carries every candidate of one search step of every
example in the call to :func:`attack`: never one forward pass per candidate.

Budgets (:class:`AttackSetting`): ``budget`` is the share of an example's eligible words
(eval/attack_views.py) the attack may change, rounded down (3 of 16 words at 0.2); ``max_queries``
caps the candidates scored per example, the unattacked example included. Importance ranking
spends at most half the queries left: past that, a seeded sample of words is ranked and the
others follow in seeded order.

Determinism: every random choice is seeded by (seed, kind, task, language, example id, word),
never by position or process, and an example's search sees only its own outcomes; so with an
objective that scores a candidate the same in any batch, 1 or N ranks, in any order or
partition, give the same adversarial examples. With a GPU model, call :func:`attack` per work
item (eval.evaluator.chunk_by_cost: the same items for any world size) so batches match too.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable, Mapping, Sequence

from eval.attack_results import AttackResult, Outcome, as_outcome
from eval.attack_views import ATTACKABLE_KINDS, Slot, View, char_variants, check_gold, translation_variants
from eval.lexicon import Dictionary

ATTACK_KINDS = ("char_greedy", "codemix_greedy", "random", "random_char", "random_codemix")
CHAR_EDITS = ("char_greedy", "random", "random_char")  # kinds whose candidates are character edits
TRANSLATIONS = ("codemix_greedy", "random", "random_codemix")  # kinds whose candidates are translations
NEEDS_DICTIONARY = ("codemix_greedy", "random_codemix")
Objective = Callable[[list[dict]], Sequence[Any]]
Step = Generator[list[dict], list[Outcome], Any]


@dataclass(frozen=True)
class AttackSetting:
    """One attack: a kind under a word budget and a query cap, seeded."""

    kind: str
    budget: float = 0.2  # share of the eligible words that may change, in (0, 1]
    max_queries: int = 200  # candidates scored per example, the unattacked one included
    seed: int = 0
    edits_per_kind: int = 2  # character edits tried per kind (swap, drop, ...) and word
    max_translations: int = 8  # code-mix candidates tried per word
    targets: tuple[str, ...] = ()  # code-mix into these languages (empty: every other one)
    mask: str = ""  # importance: "" removes the word, else it is replaced by this token

    def __post_init__(self) -> None:
        check_setting(self.kind, self.budget, self.max_queries)
        for name in ("edits_per_kind", "max_translations"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"attack {name} must be a positive integer, got {getattr(self, name)!r}")

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.budget:g}"

    def max_words(self, eligible: int) -> int:
        return math.floor(self.budget * eligible + 1e-9)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_setting(kind: str, budget: float, max_queries: int) -> None:
    """Raise a clear error for an unknown kind, a budget outside (0, 1] or a query cap that is
    not a positive integer (for the config to call before any rank starts)."""
    if kind not in ATTACK_KINDS:
        raise ValueError(f"unknown attack {kind!r}; known: {', '.join(ATTACK_KINDS)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0.0 < budget <= 1.0:
        raise ValueError(f"attack budget (share of words changed) must be in (0, 1], got {budget!r}")
    if not _is_int(max_queries) or max_queries < 1:
        raise ValueError(f"attack max_queries must be a positive integer, got {max_queries!r}")


def check_attack(setting: AttackSetting, head_kinds: Iterable[str],
                 dictionary: Dictionary | None = None) -> None:
    """Raise when a task's head kind cannot take the attack or a code-mix attack lacks its
    dictionary."""
    for kind in head_kinds:
        if kind not in ATTACKABLE_KINDS:
            raise ValueError(f"attack {setting.kind}: head kind {kind!r} cannot be attacked; "
                             f"attackable: {', '.join(ATTACKABLE_KINDS)}")
    if setting.kind in NEEDS_DICTIONARY and not dictionary:
        raise ValueError(f"attack {setting.kind} needs a bilingual dictionary (MUSE files or a "
                         f"concept lexicon)")


def rng_for(setting: AttackSetting, *key: object) -> random.Random:
    text = "\x1f".join(map(str, (setting.seed, setting.kind, *key)))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


# ---------------------------------------------------------------- the search over one example


class Search:
    """The state of one example's attack; :meth:`run` yields candidate lists and receives
    their outcomes."""

    def __init__(self, ex: Mapping, setting: AttackSetting, head_kind: str, task: str, lang: str,
                 dictionary: Dictionary | None = None, keep: Sequence[str] = ()):
        if "id" not in ex:
            raise ValueError(f"{task}/{lang}: an attacked example needs an id (it seeds the attack)")
        check_gold(head_kind, ex)
        self.setting, self.task, self.lang, self.dictionary = setting, task, lang, dictionary
        self.key = (task, lang, str(ex["id"]))
        self.view = View(head_kind, ex, keep)
        self.words = self.view.words()
        self.max_words = setting.max_words(len(self.view.slots))
        self.left = setting.max_queries
        self.queries = 0
        self.changed: list[Slot] = []
        self.before: Outcome | None = None
        self.now: Outcome | None = None
        self._candidates: dict[Slot, list[str]] = {}

    # ------------------------------------------------------------ helpers
    def candidates(self, slot: Slot) -> list[str]:
        """Replacements of the original word at ``slot`` (the same for every search order)."""
        if slot not in self._candidates:
            s, word = self.setting, self.view.word(slot)
            rng = rng_for(s, *self.key, *slot)
            out = char_variants(word, rng, s.edits_per_kind) if s.kind in CHAR_EDITS else []
            if s.kind in TRANSLATIONS and self.dictionary:
                out += [t for t in translation_variants(word, self.lang, self.dictionary, rng,
                                                        s.max_translations, s.targets,
                                                        self.view.kind == "tagging") if t not in out]
            self._candidates[slot] = out
        return self._candidates[slot]

    def example(self, slot: Slot | None = None, word: str | None = None) -> dict:
        """The current example, with ``word`` at ``slot`` when given (None removes it)."""
        if slot is None:
            return self.view.build(self.words)
        field = list(self.words[slot[0]])
        field[slot[1]] = word
        return self.view.build({**self.words, slot[0]: field})

    def ask(self, candidates: list[dict]) -> Step:
        """Score ``candidates`` (never more than the queries left); returns their outcomes."""
        candidates = candidates[:self.left]
        if not candidates:
            return []
        self.left -= len(candidates)
        self.queries += len(candidates)
        return (yield candidates)

    def accept(self, slot: Slot, word: str, outcome: Outcome) -> None:
        self.words[slot[0]][slot[1]] = word
        self.changed.append(slot)
        self.now = outcome

    def done(self) -> bool:
        return not self.now.correct or len(self.changed) >= self.max_words or self.left <= 0

    # ------------------------------------------------------------ the search
    def run(self) -> Step:
        (self.before,) = yield from self.ask([self.example()])
        self.now = self.before
        slots = [s for s in self.view.slots if self.candidates(s)]
        if self.done() or not slots:
            return
        if self.setting.kind.startswith("random"):
            yield from self._random(slots)
        else:
            yield from self._greedy((yield from self._rank(slots)))

    def _rank(self, slots: list[Slot]) -> Step:
        """Words by importance: a flip first, then the largest loss increase on removal."""
        rng = rng_for(self.setting, *self.key, "rank")
        order = list(slots)
        rng.shuffle(order)
        scored = order if len(order) <= self.left // 2 else order[:self.left // 2]
        outs = yield from self.ask([self.example(s, self.setting.mask or None) for s in scored])
        position = {s: n for n, s in enumerate(slots)}
        gain = {s: (not o.correct, o.loss - self.now.loss) for s, o in zip(scored, outs)}
        ranked = sorted(gain, key=lambda s: (gain[s][0], gain[s][1], -position[s]), reverse=True)
        return ranked + [s for s in order if s not in gain]

    def _greedy(self, order: list[Slot]) -> Step:
        for slot in order:
            if self.done():
                return
            words = self.candidates(slot)[:self.left]
            outs = yield from self.ask([self.example(slot, w) for w in words])
            if not outs:
                return
            best = max(range(len(outs)), key=lambda i: (not outs[i].correct, outs[i].loss, -i))
            if not outs[best].correct or outs[best].loss > self.now.loss:
                self.accept(slot, words[best], outs[best])

    def _random(self, slots: list[Slot]) -> Step:
        rng = rng_for(self.setting, *self.key, "random")
        rng.shuffle(slots)
        for slot in slots:
            if self.done():
                return
            word = rng.choice(self.candidates(slot))
            (out,) = yield from self.ask([self.example(slot, word)])
            self.accept(slot, word, out)

    def result(self) -> AttackResult:
        return AttackResult(self.task, self.lang, self.key[2], self.setting.name, self.view.kind,
                            dict(self.view.ex), self.example(), self.before, self.now,
                            len(self.changed), len(self.view.slots), self.queries)


# ---------------------------------------------------------------- many examples, batched


def attack(examples: Iterable[Mapping], objective: Objective, setting: AttackSetting, head_kind: str,
           task: str, lang: str, dictionary: Dictionary | None = None,
           keep: Sequence[str] = ()) -> list[AttackResult]:
    """Attack every example of one (task, language) set; one result per example, in order.

    The searches run in lock-step: each call of ``objective`` carries the current step of every
    unfinished search (so the number of calls is the longest search's steps, not the number of
    candidates). ``keep`` names fixed fields (Task.fixed_fields)."""
    check_attack(setting, [head_kind], dictionary)
    searches = [Search(ex, setting, head_kind, task, lang, dictionary, keep) for ex in examples]
    runs = [s.run() for s in searches]
    asks = {i: next(run) for i, run in enumerate(runs)}  # every search first asks for its clean score
    while asks:
        order = sorted(asks)
        batch = [c for i in order for c in asks[i]]
        outs = [as_outcome(o) for o in objective(batch)]
        if len(outs) != len(batch):
            raise ValueError(f"{task}/{lang}: the objective returned {len(outs)} outcomes for "
                             f"{len(batch)} candidates")
        asks = _advance(runs, order, asks, outs)
    return [s.result() for s in searches]


def _advance(runs: list[Step], order: list[int], asks: dict[int, list[dict]],
             outs: list[Outcome]) -> dict[int, list[dict]]:
    """Hand each search its outcomes; the searches that ask again, with their candidates."""
    nxt, at = {}, 0
    for i in order:
        part, at = outs[at:at + len(asks[i])], at + len(asks[i])
        try:
            nxt[i] = runs[i].send(part)
        except StopIteration:
            pass
    return nxt


def attack_example(ex: Mapping, objective: Objective, setting: AttackSetting, head_kind: str,
                   task: str, lang: str, dictionary: Dictionary | None = None,
                   keep: Sequence[str] = ()) -> AttackResult:
    """:func:`attack` on one example."""
    return attack([ex], objective, setting, head_kind, task, lang, dictionary, keep)[0]
