"""The first-token shortcut: sentence-level heads (classification, multiple choice) read only the
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


def first_token_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
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
