"""The export format: what phases hand to each other and what the evaluator loads.

An export is a folder holding the encoder saved with ``save_pretrained`` (safetensors; loads
with plain ``transformers.AutoModel``), the tokenizer, ``heads.safetensors`` and ``xstilts.json``
(head specs, task map, provenance; written last, in ``<export>.tmp``, and the folder renamed, so
its presence marks a complete export)."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict

from trainer.model.multitask import HeadSpec, MultiTaskModel

EXPORT_META = "xstilts.json"


HEADS_FILE = "heads.safetensors"


def read_export_meta(path: str) -> dict:
    meta_path = os.path.join(path, EXPORT_META)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{path} is not a complete xstilts export (no {EXPORT_META})")
    with open(meta_path) as f:
        return json.load(f)


def matching_heads(meta: dict, specs: dict[str, HeadSpec]) -> list[str]:
    """The heads of an export (its metadata) that ``specs`` name with the same kind and size."""
    return [name for name, spec in meta["heads"].items()
            if name in specs and specs[name].kind == spec["kind"] and specs[name].num_labels == spec["num_labels"]]


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
        shutil.rmtree(path)
    os.replace(tmp, path)
