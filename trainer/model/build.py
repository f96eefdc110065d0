"""Building the model for a run: the encoder from a hub id or folder, from a config (random
weights), or from an earlier phase's export, with the heads the run trains."""
from __future__ import annotations

import torch
from torch import nn

from trainer.model.export import load_heads, read_export_meta
from trainer.model.flat import Decays
from trainer.model.multitask import HeadSpec, MultiTaskModel, compile_layers


def _load_pretrained_encoder(model_cfg, need_mlm: bool):
    """(encoder, MLM head weights or {}) from a hub id / folder, or built from a config."""
    import transformers as tf

    common = {"trust_remote_code": model_cfg.trust_remote_code, **dropout_kwargs(model_cfg)}
    if not model_cfg.name:
        config = tf.AutoConfig.for_model(model_cfg.arch, **{**model_cfg.init_config, **dropout_kwargs(model_cfg)})
        config._attn_implementation = model_cfg.attn_implementation
        return tf.AutoModel.from_config(config, add_pooling_layer=False), {}
    if not need_mlm:
        enc = tf.AutoModel.from_pretrained(model_cfg.name, add_pooling_layer=False,
                                           attn_implementation=model_cfg.attn_implementation, **common)
        return enc, {}
    full = tf.AutoModelForMaskedLM.from_pretrained(
        model_cfg.name, attn_implementation=model_cfg.attn_implementation, **common)
    return full.base_model, _mlm_weights(full)


def dropout_kwargs(model_cfg) -> dict:
    """Config fields that set the encoder's dropout (``model.dropout``; none when it is -1)."""
    if model_cfg.dropout < 0:
        return {}
    return {"hidden_dropout_prob": float(model_cfg.dropout), "attention_probs_dropout_prob": float(model_cfg.dropout)}


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
                init: str = "pretrained", seed: int = 0, carry_heads: bool = True) -> MultiTaskModel:
    """A model for these heads, starting from the pretrained encoder or from an export; from an
    export, ``carry_heads`` loads its heads whose name, kind and size match (a phase's
    ``heads = "carry"``), else every head starts anew (``"fresh"``)."""
    import transformers as tf

    torch.manual_seed(seed)  # new heads start the same on every rank and every run
    need_mlm = any(s.kind == "mlm" for s in heads.values())
    if init == "pretrained":
        encoder, mlm = _load_pretrained_encoder(model_cfg, need_mlm)
        model = MultiTaskModel(encoder, heads, task_to_head)
        model.set_first_token_shortcut(model_cfg.first_token_shortcut)
        model.set_direct_layers(model_cfg.direct_layers)
        for name, spec in heads.items():
            if spec.kind == "mlm" and mlm:
                model.heads[name].load_state_dict(mlm)
        return model
    meta = read_export_meta(init)
    encoder = tf.AutoModel.from_pretrained(init, add_pooling_layer=False,
                                           attn_implementation=model_cfg.attn_implementation,
                                           trust_remote_code=model_cfg.trust_remote_code, **dropout_kwargs(model_cfg))
    model = MultiTaskModel(encoder, heads, task_to_head)
    model.set_first_token_shortcut(model_cfg.first_token_shortcut)
    model.set_direct_layers(model_cfg.direct_layers)
    if carry_heads:
        load_heads(model, init, meta, only_matching=True)
    return model


def prepare_model(model: MultiTaskModel, model_cfg, decays: Decays) -> int:
    """What training does to a built model before the engine takes it: ``torch.compile`` of the
    encoder layers (``model.compile``), then flat parameter groups (``model.flat_params``, one per
    ``model.flat_unit`` of ``model.flat_layers`` layers; ``decays`` names the weight-decay class of
    a parameter). Returns the number of modules compiled."""
    compiled = compile_layers(model, model_cfg.compile) if model_cfg.compile else 0
    if model_cfg.flat_params:
        model.flatten_params(decays, model_cfg.flat_unit, model_cfg.flat_layers)
    return compiled
