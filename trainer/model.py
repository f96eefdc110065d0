"""The model: one shared encoder, a ModuleDict of heads keyed by name, and a task-to-head map,
so `xnli` in German is scored by the head trained on English.

Exports are what phases hand to each other and what the evaluator loads: the encoder saved
with ``save_pretrained`` (safetensors; loads with plain ``transformers.AutoModel``), the
tokenizer, ``heads.safetensors`` and ``xstilts.json`` (head specs, task map, provenance; written
last, so its presence marks a complete export). Single-device code: no deepspeed here.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from trainer.heads import build_head

EXPORT_META = "xstilts.json"
HEADS_FILE = "heads.safetensors"
# heads that read the first token's final state only (<s> / [CLS])
FIRST_TOKEN_KINDS = ("classification", "multiple_choice")
# what the first-token last layer uses of a BERT-family layer (BERT, RoBERTa, XLM-R, ...)
_LAYER_PARTS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.self.dropout", "attention.output", "intermediate", "output")


@dataclass
class HeadSpec:
    kind: str
    num_labels: int
    labels: list = field(default_factory=list)


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
        self.heads = nn.ModuleDict({name: build_head(s.kind, hidden, s.num_labels, dropout)
                                    for name, s in heads.items()})
        self.task_to_head = dict(task_to_head)
        # (module holding the layer list, the list), looked up once; a plain tuple attribute,
        # so the layers are not registered twice
        self._first_token = first_token_layers(encoder)
        self.first_token_shortcut = self._first_token is not None

    def set_first_token_shortcut(self, on: bool) -> None:
        """Sentence-level heads get the last layer computed for the first token alone (on, the
        default where the encoder's layout allows it) or for every token (off)."""
        self.first_token_shortcut = bool(on) and self._first_token is not None

    def head_for(self, task: str) -> str:
        if task not in self.task_to_head:
            raise KeyError(f"no head mapped for task {task!r} (mapped: {sorted(self.task_to_head)})")
        return self.task_to_head[task]

    def encode(self, batch: dict, output_hidden_states: bool = False):
        ids = batch["input_ids"]
        kwargs = {"attention_mask": batch.get("attention_mask")}
        if "token_type_ids" in batch:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        if ids.dim() == 3:  # multiple choice: (batch, choices, seq) -> (batch*choices, seq)
            kwargs = {k: v.flatten(0, 1) for k, v in kwargs.items() if v is not None}
            ids = ids.flatten(0, 1)
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
        return _first_token_layer(layers[-1], hidden, mask)

    def forward(self, task: str, batch: dict) -> tuple:
        """(loss, logits) of ``task``'s head on ``batch``."""
        name = self.head_for(task)
        head, kind = self.heads[name], self.head_specs[name].kind
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


def compile_layers(model: MultiTaskModel, backend: str) -> int:
    """torch.compile the encoder in place, layer by layer where it has a layer list (a BERT-family
    stack; the first-token path keeps calling the same layer modules), else as a whole.
    ``Module.compile`` keeps parameter names, so state dicts and exports are unchanged. Returns
    the number of modules compiled."""
    stack = getattr(model.encoder, "encoder", None)
    layers = getattr(stack, "layer", None)
    targets = list(layers) if isinstance(layers, nn.ModuleList) and len(layers) else [model.encoder]
    for module in targets:
        module.compile(backend=backend)
    return len(targets)


def first_token_layers(encoder: nn.Module):
    """(the module holding the layer list, the list) when ``encoder`` is a BERT-family
    bidirectional encoder whose last layer ``_first_token_layer`` can compute; else None."""
    stack = getattr(encoder, "encoder", None)
    layers = getattr(stack, "layer", None)
    config = getattr(encoder, "config", None)
    if not isinstance(layers, nn.ModuleList) or not len(layers) or config is None:
        return None
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return None
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None  # relative position scores live inside the attention module
    if getattr(layers[-1], "chunk_size_feed_forward", 0):
        return None
    for path in _LAYER_PARTS:
        node = layers[-1]
        for part in path.split("."):
            node = getattr(node, part, None)
        if node is None:
            return None
    return stack, layers


def _first_token_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A BERT-family layer's output at position 0 only: its query attends to every (unmasked)
    token's key and value; the attention output and the feed-forward block run on that one
    position. Dropout as in the layer (attention probabilities, then each sub-block)."""
    attn = layer.attention.self
    rows, seq, _ = hidden.shape
    heads, size = attn.num_attention_heads, attn.attention_head_size
    first = hidden[:, :1]
    q = attn.query(first).view(rows, 1, heads, size).transpose(1, 2)
    k = attn.key(hidden).view(rows, seq, heads, size).transpose(1, 2)
    v = attn.value(hidden).view(rows, seq, heads, size).transpose(1, 2)
    keep = None if mask is None else mask.bool()[:, None, None, :]
    context = F.scaled_dot_product_attention(
        q, k, v, attn_mask=keep, dropout_p=attn.dropout.p if layer.training else 0.0,
        scale=getattr(attn, "scaling", None))
    context = context.transpose(1, 2).reshape(rows, 1, heads * size)
    attended = layer.attention.output(context, first)
    return layer.output(layer.intermediate(attended), attended)


# ---------------------------------------------------------------- building and loading

def _load_pretrained_encoder(model_cfg, need_mlm: bool):
    """(encoder, MLM head weights or {}) from a hub id / folder, or built from a config."""
    import transformers as tf

    common = {"trust_remote_code": model_cfg.trust_remote_code}
    if not model_cfg.name:
        config = tf.AutoConfig.for_model(model_cfg.arch, **model_cfg.init_config)
        config._attn_implementation = model_cfg.attn_implementation
        return tf.AutoModel.from_config(config, add_pooling_layer=False), {}
    if not need_mlm:
        enc = tf.AutoModel.from_pretrained(model_cfg.name, add_pooling_layer=False,
                                           attn_implementation=model_cfg.attn_implementation, **common)
        return enc, {}
    full = tf.AutoModelForMaskedLM.from_pretrained(
        model_cfg.name, attn_implementation=model_cfg.attn_implementation, **common)
    return full.base_model, _mlm_weights(full)


def _mlm_weights(full: nn.Module) -> dict[str, torch.Tensor]:
    """The pretrained LM head's transform and bias, renamed to MLMHead's parameters."""
    sd = full.state_dict()
    names = {  # RoBERTa / XLM-R, then BERT naming
        "dense.weight": ("lm_head.dense.weight", "cls.predictions.transform.dense.weight"),
        "dense.bias": ("lm_head.dense.bias", "cls.predictions.transform.dense.bias"),
        "layer_norm.weight": ("lm_head.layer_norm.weight", "cls.predictions.transform.LayerNorm.weight"),
        "layer_norm.bias": ("lm_head.layer_norm.bias", "cls.predictions.transform.LayerNorm.bias"),
        "bias": ("lm_head.bias", "cls.predictions.bias"),
    }
    out = {}
    for ours, theirs in names.items():
        for key in theirs:
            if key in sd:
                out[ours] = sd[key]
                break
    return out


def build_model(model_cfg, heads: dict[str, HeadSpec], task_to_head: dict[str, str],
                init: str = "pretrained", seed: int = 0) -> MultiTaskModel:
    """A model for these heads, starting from the pretrained encoder or from an export."""
    import transformers as tf

    torch.manual_seed(seed)  # new heads start the same on every rank and every run
    need_mlm = any(s.kind == "mlm" for s in heads.values())
    if init == "pretrained":
        encoder, mlm = _load_pretrained_encoder(model_cfg, need_mlm)
        model = MultiTaskModel(encoder, heads, task_to_head)
        model.set_first_token_shortcut(model_cfg.first_token_shortcut)
        for name, spec in heads.items():
            if spec.kind == "mlm" and mlm:
                model.heads[name].load_state_dict(mlm)
        return model
    meta = read_export_meta(init)
    encoder = tf.AutoModel.from_pretrained(init, add_pooling_layer=False,
                                           attn_implementation=model_cfg.attn_implementation,
                                           trust_remote_code=model_cfg.trust_remote_code)
    model = MultiTaskModel(encoder, heads, task_to_head)
    model.set_first_token_shortcut(model_cfg.first_token_shortcut)
    if model_cfg.reuse_heads:
        load_heads(model, init, meta, only_matching=True)
    return model


def read_export_meta(path: str) -> dict:
    meta_path = os.path.join(path, EXPORT_META)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{path} is not a complete xstilts export (no {EXPORT_META})")
    with open(meta_path) as f:
        return json.load(f)


def load_heads(model: MultiTaskModel, path: str, meta: dict, only_matching: bool) -> list[str]:
    """Load saved heads whose name, kind and size match; returns the names loaded."""
    from safetensors.torch import load_file

    state = load_file(os.path.join(path, HEADS_FILE))
    loaded = []
    for name, spec in meta["heads"].items():
        ours = model.head_specs.get(name)
        if ours is None or ours.kind != spec["kind"] or ours.num_labels != spec["num_labels"]:
            if not only_matching:
                raise ValueError(f"{path}: head {name} ({spec}) does not fit this model")
            continue
        sub = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        model.heads[name].load_state_dict(sub)
        loaded.append(name)
    return loaded


def load_export(path: str, attn_implementation: str = "sdpa") -> MultiTaskModel:
    """Rebuild the full model (encoder + every saved head) from an export, for inference."""
    import transformers as tf

    meta = read_export_meta(path)
    heads = {n: HeadSpec(**s) for n, s in meta["heads"].items()}
    encoder = tf.AutoModel.from_pretrained(path, add_pooling_layer=False,
                                           attn_implementation=attn_implementation)
    model = MultiTaskModel(encoder, heads, meta["task_to_head"])
    load_heads(model, path, meta, only_matching=False)
    return model.eval()


def save_export(model: MultiTaskModel, path: str, tokenizer, state_dict: dict | None = None,
                **provenance) -> None:
    """Write an export; ``state_dict`` (full fp32 weights from the ZeRO checkpoint) wins over
    the live module, whose bf16 copy would lose precision."""
    from safetensors.torch import save_file

    tmp = path.rstrip("/") + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    model.encoder.save_pretrained(tmp, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    heads = {f"{n}.{k}": v.detach().float().contiguous().cpu()
             for n, h in model.heads.items() for k, v in h.state_dict().items()}
    save_file(heads, os.path.join(tmp, HEADS_FILE))
    meta = {"heads": {n: asdict(s) for n, s in model.head_specs.items()},
            "task_to_head": model.task_to_head, **provenance}
    with open(os.path.join(tmp, EXPORT_META), "w") as f:
        json.dump(meta, f, indent=2)
    if os.path.isdir(path):
        import shutil

        shutil.rmtree(path)
    os.replace(tmp, path)
