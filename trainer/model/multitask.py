"""The model: one shared encoder, a ModuleDict of heads keyed by name, and a task-to-head map,
so `xnli` in German is scored by the head trained on English. Single-device code: no deepspeed
and no torch.distributed in this room (the export format is export.py, building build.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from trainer.model.first_token import (FIRST_TOKEN_KINDS, bert_layers, first_token_layer, first_token_layers, keep_mask,
                                       qkv_joins)
from trainer.model.flat import Decays, FlatLayout, Join, expand_state, plan
from trainer.model.heads import build_head


# the first span of layers' flat tensors, whose last layer gives the span's length
# (flat_decay_layers_0_3: spans of 4 layers)
_FIRST_SPAN = re.compile(r"\.flat_(?:no_)?decay_layers_0_(\d+)$")
# encoders whose forward the direct layer loop (MultiTaskModel.encode) repeats: mBERT is "bert"
DIRECT_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")


@dataclass
class HeadSpec:
    kind: str
    num_labels: int
    labels: list = field(default_factory=list)
    negatives: int = 0  # retrieval: rows per in-batch softmax (0: the micro-batch)


class MultiTaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, heads: dict[str, HeadSpec], task_to_head: dict[str, str]):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        # an MLM head scores every row of the (tied) input embeddings, whatever the tokenizer's size
        vocab = encoder.get_input_embeddings().num_embeddings
        self.head_specs = {name: (HeadSpec(s.kind, vocab, s.labels) if s.kind == "mlm" else s)
                           for name, s in heads.items()}
        heads = self.head_specs
        self.heads = nn.ModuleDict({name: build_head(s.kind, hidden, s.num_labels, dropout,
                                                     **({"negatives": s.negatives} if s.kind == "retrieval" else {}))
                                    for name, s in heads.items()})
        self.task_to_head = dict(task_to_head)
        # (module holding the layer list, the list), looked up once; a plain tuple attribute,
        # so the layers are not registered twice
        self._first_token = first_token_layers(encoder)
        self.first_token_shortcut = self._first_token is not None
        self.direct_layers = self._direct_possible()
        self._flat: FlatLayout | None = None  # set by flatten_params

    def _direct_possible(self) -> bool:
        """The encoder's forward is embeddings, then the layers, nothing between (ELECTRA, for one,
        projects the embeddings first), and its attention is ``sdpa``."""
        config = self.encoder.config
        return (self._first_token is not None and getattr(config, "model_type", "") in DIRECT_TYPES
                and getattr(config, "_attn_implementation", "sdpa") == "sdpa")

    def set_direct_layers(self, on: bool) -> None:
        """Run the encoder's layers with the project's own loop (``bert_layer``: the layers' own
        modules, the same operations, without transformers' per-layer wrappers; the default where
        the encoder is a BERT-family stack with ``sdpa`` attention) or through the transformers
        model's forward (off). Compiled layers always run through their own call."""
        self.direct_layers = bool(on) and self._direct_possible()

    def set_first_token_shortcut(self, on: bool) -> None:
        """Sentence-level heads get the last layer computed for the first token alone (on, the
        default where the encoder's layout allows it) or for every token (off)."""
        self.first_token_shortcut = bool(on) and self._first_token is not None

    def head_for(self, task: str) -> str:
        if task not in self.task_to_head:
            raise KeyError(f"no head mapped for task {task!r} (mapped: {sorted(self.task_to_head)})")
        return self.task_to_head[task]

    def flat_units(self, unit: str = "layer", layers: int = 1) -> list[tuple]:
        """The units whose parameters share flat tensors (``trainer.model.flat.plan``). ``layer``:
        each span of ``layers`` consecutive encoder layers (the last span may be shorter), each
        other part of the encoder (embeddings, ...), each head; ``encoder``: the whole encoder,
        each head. One layer per span keeps each layer's flat tensors on the layer itself; a longer
        span's are held by the module of the layer list, named after the span
        (``flat_decay_layers_0_3``)."""
        if unit not in ("layer", "encoder"):
            raise ValueError(f"flat unit {unit!r}: expected layer or encoder")
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"flat layers {layers!r}: expected a whole number >= 1")
        stack = getattr(self.encoder, "encoder", None)
        found = getattr(stack, "layer", None)
        if unit == "encoder" or not isinstance(found, nn.ModuleList):
            units = [("encoder", self.encoder)]
        else:
            units = [(f"encoder.{n}", m) for n, m in self.encoder.named_children() if m is not stack]
            if layers == 1:
                units += [(f"encoder.encoder.layer.{i}", m) for i, m in enumerate(found)]
            else:
                for first in range(0, len(found), layers):
                    last = min(first + layers, len(found)) - 1
                    span = nn.Module()  # lists the span's parameters under their names in the stack
                    span.layer = nn.ModuleDict({str(i): found[i] for i in range(first, last + 1)})
                    units.append(("encoder.encoder", span, stack, f"_layers_{first}_{last}"))
        return units + [(f"heads.{n}", h) for n, h in self.heads.items()]

    def flatten_params(self, decays: Decays, unit: str = "layer", layers: int = 1) -> int:
        """Hold the trainable parameters in a few flat tensors (trainer.model.flat), one per
        weight-decay class of each unit (``flat_units``); ``decays(name, parameter)`` gives the
        class. The state dict keeps the plain names. Each BERT-family layer's query, key and value
        projections are also read as one (``qkv_joins``) where they lie side by side. Returns the
        tensor count."""
        joins = []
        if self._first_token is not None:
            joins = [Join(module, attr, parts) for layer in self._first_token[1]
                     for (module, attr), parts in qkv_joins(layer)]
        self._flat = FlatLayout(plan(self.flat_units(unit, layers), decays), joins)
        self.register_state_dict_post_hook(_plain_state_hook)
        self.register_load_state_dict_pre_hook(_flat_load_hook)
        return sum(1 for p in self.parameters() if p.requires_grad)

    def plain_state(self, state: dict, decays: Decays) -> dict:
        """``state`` (flat tensors' keys, as in a DeepSpeed checkpoint's optimizer partitions, of
        a model built like this plain one, in any layout) under the plain parameter names."""
        spans = {int(m.group(1)) + 1 for m in map(_FIRST_SPAN.search, state) if m}
        # the layouts' flat tensors have distinct keys: each expands only its own
        for unit, layers in [("layer", 1), ("encoder", 1)] + [("layer", n) for n in sorted(spans)]:
            state = expand_state(plan(self.flat_units(unit, layers), decays), state)
        return {k: v.clone() for k, v in state.items()}

    def encode(self, batch: dict, output_hidden_states: bool = False):
        if self._flat is not None:  # every pass reads views of the current flat tensors
            self._flat.refresh()
        ids = batch["input_ids"]
        kwargs = {"attention_mask": batch.get("attention_mask")}
        if "token_type_ids" in batch:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        if ids.dim() == 3:  # multiple choice: (batch, choices, seq) -> (batch*choices, seq)
            kwargs = {k: v.flatten(0, 1) for k, v in kwargs.items() if v is not None}
            ids = ids.flatten(0, 1)
        if self.direct_layers and not output_hidden_states:
            stack, _ = self._first_token
            hidden = self.encoder.embeddings(input_ids=ids, token_type_ids=kwargs.get("token_type_ids"))
            # all the layers, or all but the last under the first-token shortcut
            hidden = bert_layers(stack.layer, hidden, keep_mask(kwargs.get("attention_mask")))
            return BaseModelOutput(last_hidden_state=hidden)
        return self.encoder(input_ids=ids, output_hidden_states=output_hidden_states,
                            return_dict=True, **kwargs)

    def encode_first_token(self, batch: dict) -> torch.Tensor:
        """Final hidden state of the first token only, (rows, 1, hidden): every layer but the
        last runs as usual; the last one computes keys and values for all tokens and the rest
        (attention output, feed-forward, layer norms) for the first token alone. A sentence-level
        head reads nothing else, so its loss and gradients are those of the full encoder, for
        less work: with L layers, about 5/6 of one layer out of L (a sixth of a 4-layer encoder,
        3.5% of XLM-R Large)."""
        stack, layers = self._first_token
        stack.layer = layers[:-1]  # the same modules: parameters and their hooks are untouched
        try:
            hidden = self.encode(batch).last_hidden_state
        finally:
            stack.layer = layers
        mask = batch.get("attention_mask")
        if mask is not None and mask.dim() == 3:  # multiple choice, as encode() flattens it
            mask = mask.flatten(0, 1)
        return first_token_layer(layers[-1], hidden, mask)

    def forward(self, task: str, batch: dict) -> tuple:
        """(loss, logits) of ``task``'s head on ``batch``."""
        name = self.head_for(task)
        head, kind = self.heads[name], self.head_specs[name].kind
        if kind == "retrieval":  # a dual encoder: queries and candidates through the same encoder
            cands = {k[len("cand_"):]: v for k, v in batch.items() if k.startswith("cand_")}
            return head(self._first_states(batch), batch,
                        candidates=self._first_states(cands) if "input_ids" in cands else None)
        if kind in FIRST_TOKEN_KINDS and self.first_token_shortcut:
            hidden = self.encode_first_token(batch)
        else:
            hidden = self.encode(batch).last_hidden_state
        extra = {}
        if kind == "multiple_choice":
            extra["num_choices"] = batch["input_ids"].shape[1]
        elif kind == "mlm":
            extra["embeddings"] = self.encoder.get_input_embeddings().weight
        return head(hidden, batch, **extra)

    def _first_states(self, batch: dict) -> torch.Tensor:
        """Final hidden states a first-token head reads: the first token's alone where the
        shortcut is on, else every token's."""
        if self.first_token_shortcut:
            return self.encode_first_token(batch)
        return self.encode(batch).last_hidden_state

    def retrieval_head(self, task: str) -> str | None:
        """The trained dual-encoder head that embeds ``task``'s sentences, if the model has one."""
        name = self.task_to_head.get(task)
        return name if name is not None and self.head_specs[name].kind == "retrieval" else None

    @torch.no_grad()
    def embed_with_head(self, batch: dict, head: str) -> torch.Tensor:
        """Embeddings of a dual-encoder head (pooled first token, L2-normalized, float32)."""
        return self.heads[head].pool(self._first_states(batch))

    @torch.no_grad()
    def embed(self, batch: dict, layer: int) -> torch.Tensor:
        """Mean-pooled hidden states of ``layer`` (0 = embeddings), L2-normalized, float32."""
        states = self.encode(batch, output_hidden_states=True).hidden_states
        if not 0 <= layer < len(states):
            raise ValueError(f"retrieval layer {layer} out of range (encoder has {len(states) - 1} layers)")
        h = states[layer].float()
        mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)


def _plain_state_hook(model: MultiTaskModel, state: dict, prefix: str, local_metadata) -> None:
    flat = model._flat.plain_state(state, prefix)
    state.clear()
    state.update(flat)


def _flat_load_hook(model: MultiTaskModel, state: dict, prefix: str, *args) -> None:
    model._flat.flat_state(state, prefix)


def compile_layers(model: MultiTaskModel, backend: str) -> int:
    """torch.compile the encoder in place, layer by layer where it has a layer list (a BERT-family
    stack; the first-token path keeps calling the same layer modules), else as a whole.
    ``Module.compile`` keeps parameter names, so state dicts and exports are unchanged. Returns
    the number of modules compiled."""
    stack = getattr(model.encoder, "encoder", None)
    layers = getattr(stack, "layer", None)
    targets = list(layers) if isinstance(layers, nn.ModuleList) and len(layers) else [model.encoder]
    model.direct_layers = False  # compiled layers run through their own (compiled) call
    for module in targets:
        module.compile(backend=backend)
    return len(targets)


def head_specs(tasks: list, vocab_size: int) -> tuple[dict[str, HeadSpec], dict[str, str]]:
    """Heads keyed by name (tasks naming the same head share it) and the task-to-head map."""
    heads: dict[str, HeadSpec] = {}
    for t in tasks:
        n = {"span": 2, "multiple_choice": 1, "mlm": vocab_size}.get(t.kind, t.num_labels)
        spec = HeadSpec(t.kind, n, list(t.labels), getattr(t, "negatives_group", 0))
        if t.head in heads and heads[t.head] != spec:
            raise ValueError(f"tasks sharing head {t.head!r} disagree on its kind or labels")
        heads[t.head] = spec
    return heads, {t.name: t.head for t in tasks}
