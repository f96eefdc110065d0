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


def bert_layer(layer: nn.Module, hidden: torch.Tensor, keep: torch.Tensor | None,
               first_only: bool = False) -> torch.Tensor:
    """A BERT-family layer's output (for position 0 alone with ``first_only``): the queries
    attend to every key and value the ``keep`` mask (``keep_mask``) leaves; the attention output
    and the feed-forward block run on the queries' positions. Dropout as in the layer
    (attention probabilities, then each sub-block)."""
    attn = layer.attention.self
    rows, seq, _ = hidden.shape
    heads, size = attn.num_attention_heads, attn.attention_head_size
    queries = hidden[:, :1] if first_only else hidden
    n = queries.shape[1]
    q = attn.query(queries).view(rows, n, heads, size).transpose(1, 2)
    k = attn.key(hidden).view(rows, seq, heads, size).transpose(1, 2)
    v = attn.value(hidden).view(rows, seq, heads, size).transpose(1, 2)
    context = F.scaled_dot_product_attention(
        q, k, v, attn_mask=keep, dropout_p=attn.dropout.p if layer.training else 0.0,
        scale=getattr(attn, "scaling", None))
    context = context.transpose(1, 2).reshape(rows, n, heads * size)
    attended = layer.attention.output(context, queries)
    return layer.output(layer.intermediate(attended), attended)


def first_token_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A BERT-family layer's output at position 0 only (``bert_layer`` with ``first_only``)."""
    return bert_layer(layer, hidden, keep_mask(mask), first_only=True)
