"""Task heads, keyed by kind. Each takes the encoder's last hidden states and a batch and
returns (loss or None, logits). Single-device code: no deepspeed, no torch.distributed."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassificationHead(nn.Module):
    """Sentence / sentence-pair classification from the first token (<s> / [CLS])."""

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict, **_) -> tuple:
        x = self.dropout(hidden[:, 0])
        logits = self.out_proj(self.dropout(torch.tanh(self.dense(x))))
        labels = batch.get("labels")
        loss = F.cross_entropy(logits.float(), labels, ignore_index=-1) if labels is not None else None
        return loss, logits


class MultipleChoiceHead(nn.Module):
    """One score per (context, choice) sequence; softmax over the choices of an example."""

    def __init__(self, hidden: int, num_labels: int = 1, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Linear(hidden, 1)

    def forward(self, hidden: torch.Tensor, batch: dict, num_choices: int = 1, **_) -> tuple:
        logits = self.scorer(self.dropout(hidden[:, 0])).view(-1, num_choices)
        labels = batch.get("labels")
        loss = F.cross_entropy(logits.float(), labels, ignore_index=-1) if labels is not None else None
        return loss, logits


class SpanHead(nn.Module):
    """Extractive QA: a start and an end logit per token."""

    def __init__(self, hidden: int, num_labels: int = 2, dropout: float = 0.0):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor, batch: dict, **_) -> tuple:
        logits = self.qa_outputs(hidden).float()
        start, end = logits[..., 0], logits[..., 1]
        mask = batch.get("attention_mask")
        if mask is not None:  # padding can never be a span boundary
            start = start.masked_fill(mask == 0, -1e4)
            end = end.masked_fill(mask == 0, -1e4)
        loss = None
        if "start_positions" in batch:
            loss = (F.cross_entropy(start, batch["start_positions"])
                    + F.cross_entropy(end, batch["end_positions"])) / 2
        return loss, torch.stack([start, end], dim=-1)


class TaggingHead(nn.Module):
    """Token classification; labels are -100 except on the first sub-token of each word."""

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict, **_) -> tuple:
        logits = self.classifier(self.dropout(hidden))
        labels = batch.get("labels")
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        return loss, logits


class MLMHead(nn.Module):
    """Masked-LM head tied to the input embeddings; logits only at masked positions, so the
    250k-way vocabulary projection costs 15% of a full one."""

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.layer_norm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(num_labels))

    def forward(self, hidden: torch.Tensor, batch: dict, embeddings: torch.Tensor | None = None,
                **_) -> tuple:
        labels = batch["labels"].flatten()
        positions = batch.get("mlm_positions")
        if positions is None:
            positions = (labels != -100).nonzero().squeeze(-1)
        x = hidden.flatten(0, 1).index_select(0, positions)
        x = self.layer_norm(F.gelu(self.dense(x)))
        logits = F.linear(x, embeddings, self.bias)
        target = labels.index_select(0, positions)
        loss = F.cross_entropy(logits.float(), target) if target.numel() else logits.sum() * 0
        return loss, logits


class DualEncoderHead(nn.Module):
    """Retrieval as XTREME-R trains it for LAReQA and Mewsli-X: queries and candidates go through
    the same encoder; each is its first token's final state through a pooler (dense + tanh),
    L2-normalized. The loss is the cross-entropy of each query over its group's candidates (the
    other pairs of ``negatives`` consecutive rows, 0: the whole batch; its own candidate is the
    right one), on cosine similarities times a learned scale that starts at 100."""

    def __init__(self, hidden: int, num_labels: int = 0, dropout: float = 0.0, negatives: int = 0):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.logit_scale = nn.Parameter(torch.full((1,), 100.0))
        self.negatives = negatives

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """L2-normalized embeddings (float32) from final hidden states (rows, seq >= 1, hidden)."""
        return F.normalize(torch.tanh(self.dense(hidden[:, 0])).float(), dim=-1)

    def forward(self, hidden: torch.Tensor, batch: dict, candidates: torch.Tensor | None = None,
                **_) -> tuple:
        """(loss, query x candidate similarities) with ``candidates``' hidden states; without
        them (embedding only), (None, the query embeddings)."""
        query = self.pool(hidden)
        if candidates is None:
            return None, query
        cand = self.pool(candidates)
        sim = query @ cand.T
        rows, group = len(query), self.negatives or len(query)
        scale = self.logit_scale.float()
        loss = sim.new_zeros(())
        for s in range(0, rows, group):
            block = sim[s:s + group, s:s + group] * scale
            loss = loss + F.cross_entropy(block, torch.arange(len(block), device=block.device), reduction="sum")
        return loss / rows, sim


HEADS: dict[str, type[nn.Module]] = {
    "classification": ClassificationHead,
    "multiple_choice": MultipleChoiceHead,
    "span": SpanHead,
    "tagging": TaggingHead,
    "mlm": MLMHead,
    "retrieval": DualEncoderHead,
}


def build_head(kind: str, hidden: int, num_labels: int, dropout: float = 0.1, **options) -> nn.Module:
    """The head of ``kind``; ``options`` reach the heads that take them (a dual encoder's
    ``negatives``)."""
    if kind not in HEADS:
        raise ValueError(f"no head for kind {kind!r} (known: {', '.join(HEADS)})")
    return HEADS[kind](hidden, num_labels, dropout, **options)
