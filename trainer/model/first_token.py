"""BERT-family encoder layers run by the project's own loop, and the first-token shortcut.

The loop (``bert_layer``) calls a layer's own modules (query, key and value projections,
attention output, feed-forward, their dropouts and layer norms) in the layer's order, with
``scaled_dot_product_attention`` as transformers' ``sdpa`` attention calls it: the same
operations and random draws, without transformers' per-layer wrappers (argument deprecation,
output capturing, checkpointing hooks, its attention dispatch), which cost host time at every
layer of every pass.

The first-token shortcut: sentence-level heads (classification, multiple choice) read only the
first token's final state, so the last encoder layer computes keys and values for every token
and the rest of the layer (query, attention output, feed-forward) for the first token alone.
Same loss and gradients as the full layer; single-device code."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# heads that read the first token's final state only (<s> / [CLS])
FIRST_TOKEN_KINDS = ("classification", "multiple_choice")


# what the first-token last layer uses of a BERT-family layer (BERT, RoBERTa, XLM-R, ...)
_LAYER_PARTS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.self.dropout", "attention.output", "intermediate", "output")


def first_token_layers(encoder: nn.Module):
    """(the module holding the layer list, the list) when ``encoder`` is a BERT-family
    bidirectional encoder whose last layer ``first_token_layer`` can compute; else None."""
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


def keep_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """``scaled_dot_product_attention``'s boolean mask of the keys each query may attend to, from
    a (rows, seq) attention mask; None where nothing is masked."""
    return None if mask is None else mask.bool()[:, None, None, :]


# attributes of a layer's self-attention module holding its query, key and value projections'
# weights, and their biases, stacked in one view where the flat layout joins them
# (trainer.model.flat)
QKV_WEIGHT, QKV_BIAS = "qkv_weight", "qkv_bias"


def qkv_joins(layer: nn.Module) -> list:
    """What ``bert_layer`` reads as one view, for the flat layout: ((module, attribute), parts)
    for the stacked query, key and value weights and for their biases."""
    attn = layer.attention.self
    projections = (attn.query, attn.key, attn.value)
    return [((attn, QKV_WEIGHT), [(m, "weight") for m in projections]),
            ((attn, QKV_BIAS), [(m, "bias") for m in projections])]


def _stacked_qkv(attn: nn.Module):
    """(weight, bias) of the query, key and value projections as one, or None where the flat
    layout does not join them."""
    weight, bias = attn.__dict__.get(QKV_WEIGHT), attn.__dict__.get(QKV_BIAS)
    if weight is None or (bias is None and attn.query.bias is not None):
        return None
    return weight, bias


def bert_layer(layer: nn.Module, hidden: torch.Tensor, rows: int, keep: torch.Tensor | None,
               first_only: bool = False) -> torch.Tensor:
    """A BERT-family layer's output on ``hidden``, a (rows * seq, width) matrix of ``rows`` rows of
    seq tokens, as a matrix of the same layout (position 0 of each row alone with ``first_only``:
    (rows, width)). The queries attend to every key and value the ``keep`` mask (``keep_mask``)
    leaves; the attention output and the feed-forward block run on the queries' positions. Dropout
    as in the layer (attention probabilities, then each sub-block). Hidden states stay matrices
    between layers, so each linear layer is one matrix product, with no reshape on either pass;
    where the flat layout joins the query, key and value projections, they are one product."""
    attn = layer.attention.self
    seq = hidden.shape[0] // rows
    heads, size = attn.num_attention_heads, attn.attention_head_size
    stacked = None if first_only else _stacked_qkv(attn)
    if stacked is not None:
        queries, n = hidden, seq
        q, k, v = (F.linear(hidden, *stacked).view(rows, seq, 3, heads, size)
                   .permute(2, 0, 3, 1, 4).unbind(0))
    else:
        queries = hidden.view(rows, seq, -1)[:, 0] if first_only else hidden
        n = queries.shape[0] // rows
        q = attn.query(queries).view(rows, n, heads, size).transpose(1, 2)
        k = attn.key(hidden).view(rows, seq, heads, size).transpose(1, 2)
        v = attn.value(hidden).view(rows, seq, heads, size).transpose(1, 2)
    context = F.scaled_dot_product_attention(
        q, k, v, attn_mask=keep, dropout_p=attn.dropout.p if layer.training else 0.0,
        scale=getattr(attn, "scaling", None))
    context = context.transpose(1, 2).reshape(rows * n, heads * size)
    attended = layer.attention.output(context, queries)
    return layer.output(layer.intermediate(attended), attended)


def bert_layers(layers, hidden: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """(rows, seq, width) hidden states through ``layers`` (``bert_layer`` each)."""
    rows, seq, width = hidden.shape
    flat = hidden.reshape(rows * seq, width)
    for layer in layers:
        flat = bert_layer(layer, flat, rows, keep)
    return flat.view(rows, seq, width)


def first_token_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A BERT-family layer's output at position 0 only, (rows, 1, width), from (rows, seq, width)
    hidden states (``bert_layer`` with ``first_only``)."""
    rows, seq, width = hidden.shape
    out = bert_layer(layer, hidden.reshape(rows * seq, width), rows, keep_mask(mask), first_only=True)
    return out.view(rows, 1, width)
