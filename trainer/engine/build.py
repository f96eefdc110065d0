"""DeepSpeed: fill the JSON's "auto" keys from the run config, then build the engine.

The JSON in ds_configs/ holds engine knobs only (ZeRO stage, buckets, offload, loss-scale
policy). Batch sizes, learning rate, clipping, precision, optimizer hyper-parameters and the
schedule are "auto" there and come from the recipe; a concrete value in the JSON that disagrees
with the recipe is refused. This is the only module that calls ``deepspeed.initialize``.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any

from trainer.config.batch import batch_arithmetic, micro_batch_for
from trainer.errors import EngineConfigError


def load_ds_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise EngineConfigError(f"deepspeed.config: DeepSpeed config not found: {path}")
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise EngineConfigError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None


def _fill(node: dict, key: str, value: Any, where: str) -> None:
    """Set ``node[key]`` if absent or "auto"; a concrete value that disagrees raises."""
    current = node.get(key, "auto")
    if current == "auto":
        node[key] = value
    elif current != value and not (isinstance(value, float) and isinstance(current, (int, float))
                                   and abs(float(current) - value) <= 1e-12 * max(1.0, abs(value))):
        raise EngineConfigError(f"{where}.{key} = {current!r} in the DeepSpeed config disagrees with "
                                f"the recipe ({value!r}); set it to \"auto\"")


def fill_ds_config(ds: dict, cfg, *, lr: float, global_batch: int, world_size: int,
                   total_steps: int, device: str = "cpu", path: str = "ds_config") -> dict:
    """Return a copy of ``ds`` with every "auto" key filled from the run config."""
    ds = copy.deepcopy(ds)
    d, o = cfg.deepspeed, cfg.optim
    micro = micro_batch_for(d.micro_batch, global_batch, world_size)
    accum = batch_arithmetic(global_batch, micro, world_size)
    _fill(ds, "train_batch_size", global_batch, path)
    _fill(ds, "train_micro_batch_size_per_gpu", micro, path)
    _fill(ds, "gradient_accumulation_steps", accum, path)
    _fill(ds, "gradient_clipping", o.clip, path)
    for prec in ("bf16", "fp16"):
        section = ds.setdefault(prec, {})
        _fill(section, "enabled", d.precision == prec, f"{path}.{prec}")
    if ds["bf16"]["enabled"] and ds["fp16"]["enabled"]:
        raise EngineConfigError(f"{path}: bf16 and fp16 are both enabled")
    if d.precision == "fp16" and device == "cpu":
        raise EngineConfigError("deepspeed.precision = fp16 needs a GPU (this CPU does not run fp16); "
                                "use bf16 or fp32 here")
    opt = ds.setdefault("optimizer", {"type": "AdamW", "params": {}})
    params = opt.setdefault("params", {})
    where = f"{path}.optimizer.params"
    _fill(params, "lr", lr, where)
    _fill(params, "betas", list(o.betas), where)
    _fill(params, "eps", o.eps, where)
    _fill(params, "weight_decay", o.weight_decay, where)
    if params.get("torch_adam") == "auto":
        # torch's fused AdamW: one kernel per parameter group on GPU and CPU alike, with no JIT
        # build (DeepSpeed's FusedAdam compiles for about a minute at the first start). ZeRO
        # hands the optimizer one flat partition per group, where on CPU the fused kernel is
        # about 8x faster than torch's default loop (benchmarks/optimizer.py).
        params["torch_adam"] = True
        params.setdefault("fused", o.fused)
    sched = ds.setdefault("scheduler", {"type": "WarmupDecayLR", "params": {}})
    sp = sched.setdefault("params", {})
    where = f"{path}.scheduler.params"
    _fill(sp, "total_num_steps", max(total_steps, 1), where)
    _fill(sp, "warmup_num_steps", max(1, int(round(o.warmup_ratio * total_steps))), where)
    _fill(sp, "warmup_max_lr", lr, where)
    _fill(sp, "warmup_min_lr", 0.0, where)
    left = _find_auto(ds)
    if left:
        raise EngineConfigError(f"{path}: no recipe value fills {left}")
    return ds


def _find_auto(node: Any, prefix: str = "") -> str | None:
    if isinstance(node, dict):
        for k, v in node.items():
            hit = _find_auto(v, f"{prefix}.{k}" if prefix else k)
            if hit:
                return hit
    if isinstance(node, list):  # DeepSpeed reads lists too (e.g. per-group settings)
        for i, v in enumerate(node):
            hit = _find_auto(v, f"{prefix}.{i}" if prefix else str(i))
            if hit:
                return hit
    return prefix if node == "auto" else None


def decays(name: str, p) -> bool:
    """Weight decay on weights only: never on biases or LayerNorm parameters. A flat tensor of the
    model's layout (``model.flat_params``) holds one class and says which (``p.decays``)."""
    marked = getattr(p, "decays", None)
    if marked is not None:
        return bool(marked)
    return not (p.ndim < 2 or "norm" in name.lower() or name.endswith(".bias"))


def param_groups(model, weight_decay: float) -> list[dict]:
    """Two optimizer groups: the parameters that decay, and the rest (``decays``)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if decays(name, p) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_engine(model, ds_config: dict):
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=param_groups(model, ds_config["optimizer"]["params"]["weight_decay"]),
        config=ds_config)
    world_size_free_norm(engine.optimizer)
    return engine


def world_size_free_norm(optimizer) -> None:
    """ZeRO-1/2's gradient norm (clipping, the logged grad_norm), the same on any number of
    ranks: each rank's sum of squares in float64, summed over the ranks in float64, rounded to
    float32 once. DeepSpeed rounds each rank's sum to float32 before its all-reduce, so 1 and 2
    ranks clip by factors an ulp apart and their weights drift apart. Same cost as DeepSpeed's
    (it also squares in float64). Other optimizers, MoE and model-parallel runs are left as
    they are."""
    import deepspeed.comm as dist
    import torch

    direct = getattr(optimizer, "get_grad_norm_direct", None)
    group = getattr(optimizer, "dp_process_group", None)
    if (direct is None or group is None or getattr(optimizer, "has_moe_layers", False)
            or getattr(optimizer, "model_parallel_world_size", 1) > 1):
        return  # MoE and model-parallel layouts keep DeepSpeed's own (its per-parameter filters)

    def grad_norm(gradients, params, norm_type=2):
        if float(norm_type) != 2.0:
            return direct(gradients, params, norm_type)
        total = torch.zeros((), dtype=torch.float64, device=optimizer.device)
        for g in gradients:
            if not getattr(g, "_zero_padding", False):
                total += torch.linalg.vector_norm(g.detach(), dtype=torch.float64).square()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        norm = total.sqrt().float()
        return norm.masked_fill_(~torch.isfinite(norm), -1.0)  # DeepSpeed's mark of a bad norm

    optimizer.get_grad_norm_direct = grad_norm
