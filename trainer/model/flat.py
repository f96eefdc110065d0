"""Flat parameter groups: the same model held in a few large parameter tensors.

DeepSpeed's ZeRO-2 registers a gradient hook on every parameter tensor it is given and loops
over all of them at each optimizer step (gradient norm, overflow test, copy back); XLM-R Large
has 389. Here each unit of the model (the embeddings, each encoder layer or span of layers,
each head) keeps its trainable parameters in one flat tensor per weight-decay class
(``<unit>.flat_decay`` and ``<unit>.flat_no_decay``: 52 tensors for XLM-R Large with one head
and one layer per unit, 16 with spans of 4 layers), and its modules read views of them. The
views are taken afresh at the start of every pass (``FlatLayout.refresh``, called by
``MultiTaskModel.encode``): one ``split`` per flat tensor, so autograd hands each flat tensor
its gradient in one piece, and the values always follow the flat tensor, which the engine may
move, cast or re-point between passes.

Each decay class keeps the elements in the order of the plain model's parameters, so the
optimizer sees the same flat partitions and training is the same. The model's state dict stays
plain: a state-dict hook writes each flat tensor under the plain names it holds, and a load hook
gathers plain names back into the flat tensor, so checkpoints' module weights and exports are
those of the plain model and load into either layout (``expand_state`` does the same for a dict
read from a checkpoint's optimizer partitions).

Joins: parameters of equal shape that lie next to each other in one flat tensor (a layer's query,
key and value weights, and their biases) can also be read as one view, written to a module
attribute the model names (``Join``), and each of them is then a slice of that view. A model
that reads the joined view makes one matrix product where the plain model makes three. Where the
plan does not put them side by side (another decay rule), the join is left out and the model
reads them one by one. Single-device code: no deepspeed, no torch.distributed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

FLAT_NAMES = {True: "flat_decay", False: "flat_no_decay"}
Decays = Callable[[str, torch.Tensor], bool]


@dataclass
class FlatGroup:
    unit: nn.Module
    prefix: str  # the unit's name in the model
    name: str  # the flat tensor's attribute on ``holder``
    names: list[list[str]]  # each plain parameter's names relative to ``unit`` (tied: several)
    owners: list[list[tuple[nn.Module, str]]]  # the (module, attribute) of each of those names
    shapes: list[torch.Size] = field(default_factory=list)
    decay: bool = True
    holder: nn.Module | None = None  # the module the flat tensor is registered on (None: ``unit``)

    @property
    def home(self) -> nn.Module:
        return self.unit if self.holder is None else self.holder

    @property
    def sizes(self) -> list[int]:
        return [s.numel() for s in self.shapes]

    @property
    def key(self) -> str:
        return f"{self.prefix}.{self.name}"


def plan(units: list[tuple], decays: Decays) -> list[FlatGroup]:
    """The groups of ``units``: per unit, its trainable parameters of one decay class, in
    ``named_parameters`` order. A unit is (prefix, module): the flat tensors are that module's
    ``flat_decay`` and ``flat_no_decay``; or (prefix, module, holder, tag): ``module`` only lists
    the parameters (under their names relative to ``prefix``), and the flat tensors are
    ``holder``'s ``flat_decay<tag>`` and ``flat_no_decay<tag>`` (a span of layers, held by the
    module of the layer list). ``decays(full name, parameter)`` decides the class. A parameter
    shared by two units has no single home: refused."""
    groups, seen = [], set()
    for prefix, unit, *held in units:
        holder, tag = held if held else (None, "")
        names: dict[int, list[str]] = {}
        params: dict[int, torch.Tensor] = {}
        for name, p in unit.named_parameters(remove_duplicate=False):
            if p.requires_grad:
                names.setdefault(id(p), []).append(name)
                params[id(p)] = p
        if seen & names.keys():
            raise ValueError(f"{prefix}: a parameter is shared with another unit; flat layout impossible")
        seen |= names.keys()
        for decay in (True, False):
            picked = [i for i in names if bool(decays(f"{prefix}.{names[i][0]}", params[i])) == decay]
            if picked:
                owners = [[(unit.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) for n in names[i]]
                          for i in picked]
                groups.append(FlatGroup(unit, prefix, FLAT_NAMES[decay] + tag, [names[i] for i in picked], owners,
                                        [params[i].shape for i in picked], decay, holder))
    return groups


@dataclass
class Join:
    """Parameters ``parts`` ((module, attribute) pairs, equal shapes), read also as one view
    stacked along the first dimension, written to ``module.<attr>``."""
    module: nn.Module
    attr: str
    parts: list[tuple[nn.Module, str]]


def _joined(group: FlatGroup, join: Join) -> int | None:
    """Index in ``group`` of the first of ``join``'s parts when they lie there side by side, in
    order, untied and of one shape; else None."""
    firsts = [owner[0] if len(owner) == 1 else None for owner in group.owners]
    try:
        start = next(i for i, o in enumerate(firsts) if o is not None and o[0] is join.parts[0][0]
                     and o[1] == join.parts[0][1])
    except StopIteration:
        return None
    run = range(start, start + len(join.parts))
    if run.stop > len(firsts):
        return None
    if any(firsts[i] is None or firsts[i][0] is not m or firsts[i][1] != a for i, (m, a) in zip(run, join.parts)):
        return None
    return start if len({group.shapes[i] for i in run}) == 1 else None


class FlatLayout:
    """The flat tensors of a model and the views its modules read (``joins``: see the module's
    docstring)."""

    def __init__(self, groups: list[FlatGroup], joins: list[Join] = ()):
        self.groups = groups
        for g in groups:
            params = [getattr(owner[0][0], owner[0][1]) for owner in g.owners]
            flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
            flat.decays = g.decay  # read by the optimizer's grouping
            for owner in g.owners:
                for module, attr in owner:
                    del module._parameters[attr]
            g.home.register_parameter(g.name, flat)
        # per group: the flat tensor's owner and name, the split sizes, and per split its shape,
        # the module dicts (and attribute) that read it, and for a join the shape its parts are
        # unbound from and each part's readers
        self._targets = [self._group_targets(g, joins) for g in groups]
        self.joined = sum(1 for t in self._targets for target in t[3] if target[2] is not None)  # joins in use
        self.refresh()

    @staticmethod
    def _group_targets(g: FlatGroup, joins) -> tuple:
        readers = [[(m.__dict__, a) for m, a in owner] for owner in g.owners]
        starts = {}
        for join in joins:
            start = _joined(g, join)
            if start is not None:
                starts[start] = join
        sizes, targets, i = [], [], 0
        while i < len(g.shapes):
            join = starts.get(i)
            if join is None:
                sizes.append(g.sizes[i])
                targets.append((g.shapes[i], readers[i], None))
                i += 1
                continue
            n, shape = len(join.parts), g.shapes[i]
            sizes.append(g.sizes[i] * n)
            targets.append((torch.Size([n * shape[0], *shape[1:]]), [(join.module.__dict__, join.attr)],
                            (torch.Size([n, *shape]), readers[i:i + n])))
            i += n
        return g.home, g.name, sizes, targets

    def refresh(self) -> None:
        """Point every module at views of the current flat tensors (one split per tensor; a join's
        parts are slices of its view)."""
        for unit, name, sizes, targets in self._targets:
            for view, (shape, owners, parts) in zip(unit._parameters[name].split(sizes), targets):
                view = view.view(shape)
                for where, attr in owners:
                    where[attr] = view
                if parts is not None:
                    stacked, readers = parts
                    for part, part_owners in zip(view.view(stacked).unbind(0), readers):
                        for where, attr in part_owners:
                            where[attr] = part

    def plain_state(self, state: dict, prefix: str = "") -> dict:
        """``state`` (keys under ``prefix``) with each flat tensor written as the plain
        parameters it holds."""
        return expand_state(self.groups, state, prefix)

    def flat_state(self, state: dict, prefix: str = "") -> None:
        """Gather the plain parameters in ``state`` (keys under ``prefix``) into the flat tensors'
        keys, in place: a state dict of the plain model loads into this one."""
        for g in self.groups:
            keys = [[f"{prefix}{g.prefix}.{n}" for n in names] for names in g.names]
            if all(k[0] in state for k in keys):
                state[prefix + g.key] = torch.cat([state[k[0]].reshape(-1) for k in keys])
                for k in (k for ks in keys for k in ks):
                    state.pop(k, None)

    def __len__(self) -> int:
        return len(self.groups)


def expand_state(groups: list[FlatGroup], state: dict, prefix: str = "") -> dict:
    """``state`` with every flat tensor replaced by the plain parameters it holds, each under all
    its names (keys under ``prefix``); ``groups`` is the plan of the model's layout. A state
    without flat tensors comes back as it is."""
    out = dict(state)
    for g in groups:
        key = prefix + g.key
        if key not in out:
            continue
        flat = out.pop(key)
        if flat.numel() != sum(g.sizes):
            raise ValueError(f"{key}: {flat.numel()} elements, the model's layout expects {sum(g.sizes)}")
        for names, view, shape in zip(g.names, flat.split(g.sizes), g.shapes):
            for name in names:
                out[f"{prefix}{g.prefix}.{name}"] = view.reshape(shape)
    return out
