"""DeepSpeed JSON: "auto" keys filled from the recipe, disagreements refused, batch arithmetic."""
import json

import pytest

from trainer.config import Config, batch_arithmetic, micro_batch_for
from trainer.engine.build import fill_ds_config, load_ds_json, param_groups
from trainer.errors import EngineConfigError


def fill(ds, cfg=None, **kw):
    args = dict(lr=2e-5, global_batch=32, world_size=2, total_steps=100, device="cpu")
    args.update(kw)
    return fill_ds_config(ds, cfg or Config(), **args)


@pytest.mark.parametrize("name", ["zero2_bf16", "zero2_fp16", "zero2_offload"])
def test_shipped_configs_fill_completely(repo_root, name):
    ds = load_ds_json(f"{repo_root}/ds_configs/{name}.json")
    cfg = Config()
    cfg.deepspeed.precision = "fp16" if name == "zero2_fp16" else "bf16"
    out = fill(ds, cfg, device="cuda")
    assert out["train_batch_size"] == 32
    assert out["train_micro_batch_size_per_gpu"] == 8
    assert out["gradient_accumulation_steps"] == 2
    assert out["gradient_clipping"] == 1.0
    assert out["optimizer"]["params"]["lr"] == 2e-5
    assert out["optimizer"]["params"]["weight_decay"] == 0.01
    assert out["scheduler"]["params"]["warmup_num_steps"] == 10
    assert out["scheduler"]["params"]["total_num_steps"] == 100
    assert out["zero_optimization"]["stage"] == 2
    assert out[cfg.deepspeed.precision]["enabled"] is True
    assert "auto" not in json.dumps(out)


def test_auto_optimizer_is_torch_fused_adamw_on_every_device(repo_root):
    ds = load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json")
    for device in ("cpu", "cuda"):
        params = fill(ds, device=device)["optimizer"]["params"]
        assert params["torch_adam"] is True and params["fused"] is True
    # a config that names DeepSpeed's own optimizer (CPU Adam under offload) keeps it
    off = fill(load_ds_json(f"{repo_root}/ds_configs/zero2_offload.json"), device="cuda")
    assert off["optimizer"]["params"]["torch_adam"] is False and "fused" not in off["optimizer"]["params"]


@pytest.mark.slow
def test_engine_optimizer_is_fused_adamw(repo_root):
    """The filled config reaches DeepSpeed: its optimizer is torch's AdamW with the fused kernel
    (in a child process: initializing torch.distributed here would leak into other tests)."""
    import subprocess
    import sys

    code = (
        "import json, torch\n"
        "from trainer.runtime import dist\n"
        "from trainer.config import Config\n"
        "from trainer.engine.build import build_engine, fill_ds_config, load_ds_json\n"
        f"ds = fill_ds_config(load_ds_json('{repo_root}/ds_configs/zero2_bf16.json'), Config(), lr=1e-3,"
        " global_batch=16, world_size=1, total_steps=10, device='cpu')\n"
        "ds['bf16']['enabled'] = False\n"
        "dist.init(dist.discover(), '', 60, False)\n"
        "opt = build_engine(torch.nn.Linear(4, 2), ds).optimizer.optimizer\n"
        "print(json.dumps([type(opt).__name__, opt.defaults['fused']]))\n"
        "dist.shutdown()\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == '["AdamW", true]'


def test_concrete_value_that_disagrees_is_refused(repo_root):
    ds = load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json")
    ds["train_micro_batch_size_per_gpu"] = 4
    with pytest.raises(EngineConfigError, match="train_micro_batch_size_per_gpu"):
        fill(ds)
    ds = load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json")
    ds["optimizer"]["params"]["lr"] = 1e-3
    with pytest.raises(EngineConfigError, match="optimizer.params.lr"):
        fill(ds)
    ds = load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json")
    ds["gradient_clipping"] = 1.0  # agreeing concrete values are fine
    assert fill(ds)["gradient_clipping"] == 1.0


def test_precision_conflicts(repo_root):
    ds = load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json")
    ds["fp16"] = {"enabled": True}
    with pytest.raises(EngineConfigError, match="fp16.enabled"):
        fill(ds)
    cfg = Config()
    cfg.deepspeed.precision = "fp16"
    with pytest.raises(EngineConfigError, match="needs a GPU"):
        fill(load_ds_json(f"{repo_root}/ds_configs/zero2_fp16.json"), cfg)


def test_batch_arithmetic():
    assert batch_arithmetic(32, 8, 2) == 2
    assert batch_arithmetic(32, 4, 8) == 1
    with pytest.raises(EngineConfigError, match="not divisible"):
        batch_arithmetic(32, 6, 2)
    with pytest.raises(EngineConfigError, match="not divisible"):
        batch_arithmetic(32, 8, 3)



def test_auto_micro_batch_is_one_pass_per_rank_per_step(repo_root):
    assert micro_batch_for(4, 32, 2) == 4  # as set
    assert micro_batch_for(0, 32, 1) == 32 and micro_batch_for(0, 32, 8) == 4
    with pytest.raises(EngineConfigError, match="micro_batch = 0 \\(auto\\) needs a global batch divisible"):
        micro_batch_for(0, 32, 3)
    cfg = Config()
    cfg.deepspeed.micro_batch = 0
    out = fill(load_ds_json(f"{repo_root}/ds_configs/zero2_bf16.json"), cfg, global_batch=64, world_size=4)
    assert out["train_micro_batch_size_per_gpu"] == 16 and out["gradient_accumulation_steps"] == 1


def test_missing_and_invalid_json(tmp_path):
    with pytest.raises(EngineConfigError, match="not found"):
        load_ds_json(str(tmp_path / "nope.json"))
    p = tmp_path / "bad.json"
    p.write_text('{\n  "a": 1,\n  "b": \n}')
    with pytest.raises(EngineConfigError, match=r"bad.json:4"):
        load_ds_json(str(p))


def test_no_weight_decay_on_bias_and_layernorm():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 3  # linear bias, LayerNorm weight and bias
