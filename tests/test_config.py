"""Config tree: file + CLI overrides, unknown keys and wrong types refused with the key named."""
import json
import os

import pytest

from trainer import config
from trainer.config import ConfigError

RECIPE = """
[run]
name = "t"
out = "runs/t"
[optim]
lr = 2e-5
[[phases]]
name = "intermediate"
tasks = ["mnli", "squad"]
[[phases]]
name = "target"
init = "intermediate"
tasks = ["xnli"]
per_task = true
"""


def write(tmp_path, text: str) -> str:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return str(p)


def test_file_then_cli_overrides(tmp_path):
    cfg = config.load(write(tmp_path, RECIPE), ["--optim.lr=3e-5", "deepspeed.micro_batch=4",
                                                "--phases.1.epochs=2", "eval.languages=de,fr"])
    assert cfg.optim.lr == 3e-5
    assert cfg.deepspeed.micro_batch == 4
    assert cfg.phases[1].epochs == 2.0 and cfg.phases[1].per_task is True
    assert cfg.phases[0].tasks == ["mnli", "squad"]
    assert cfg.eval.languages == ["de", "fr"]
    assert cfg.optim.weight_decay == 0.01  # default kept


def test_int_accepted_for_float_and_bool_parsed(tmp_path):
    cfg = config.load(write(tmp_path, RECIPE + "\n"), ["optim.clip=1", "data.skip_bad_rows=true"])
    assert isinstance(cfg.optim.clip, float) and cfg.data.skip_bad_rows is True


@pytest.mark.parametrize("text,key", [
    ("[optim]\nlrr = 1.0\n", "optim.lrr"),
    ("[optim]\nlr = \"fast\"\n", "optim.lr"),
    ("[deepspeed]\nmicro_batch = 2.5\n", "deepspeed.micro_batch"),
    ("[bogus]\nx = 1\n", "bogus"),
    ("[[phases]]\nname = \"a\"\ntasks = [\"mnli\"]\nepoch = 1\n", "phases.0.epoch"),
])
def test_bad_keys_and_types_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.load(write(tmp_path, text))


def test_unknown_override_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="optim.nope"):
        config.load(write(tmp_path, RECIPE), ["--optim.nope=1"])
    with pytest.raises(ConfigError, match="must look like"):
        config.load(write(tmp_path, RECIPE), ["--optim.lr"])


def test_phase_graph_validation(tmp_path):
    bad = RECIPE.replace('init = "intermediate"', 'init = "nowhere"')
    with pytest.raises(ConfigError, match="phases.1.init"):
        config.load(write(tmp_path, bad))
    dup = RECIPE.replace('name = "target"', 'name = "intermediate"')
    with pytest.raises(ConfigError, match="duplicate phase"):
        config.load(write(tmp_path, dup))


def test_enums_refused(tmp_path):
    with pytest.raises(ConfigError, match="deepspeed.precision"):
        config.load(write(tmp_path, RECIPE), ["deepspeed.precision=fp8"])
    with pytest.raises(ConfigError, match="sampler.kind"):
        config.load(write(tmp_path, RECIPE), ["sampler.kind=random"])


def test_pad_multiple_auto_is_8_on_gpu_off_on_cpu_and_bad_values_refused(tmp_path):
    from trainer.data.streams import pad_multiple

    assert config.load(write(tmp_path, RECIPE)).data.pad_to_multiple_of == -1
    assert pad_multiple(-1, "cuda") == 8 and pad_multiple(-1, "cpu") == 0
    assert pad_multiple(0, "cuda") == 0 and pad_multiple(16, "cpu") == 16
    with pytest.raises(ConfigError, match="data.pad_to_multiple_of"):
        config.load(write(tmp_path, RECIPE), ["data.pad_to_multiple_of=-2"])


def test_compile_backend_checked_with_the_config(tmp_path):
    assert config.load(write(tmp_path, RECIPE)).model.compile == ""
    assert config.load(write(tmp_path, RECIPE), ["model.compile=inductor"]).model.compile == "inductor"
    with pytest.raises(ConfigError, match="model.compile: unknown torch.compile backend 'inductr'.*inductor"):
        config.load(write(tmp_path, RECIPE), ["model.compile=inductr"])


def test_flat_unit_checked_with_the_config(tmp_path):
    assert config.load(write(tmp_path, RECIPE)).model.flat_unit == "layer"
    assert config.load(write(tmp_path, RECIPE), ["model.flat_unit=encoder"]).model.flat_unit == "encoder"
    with pytest.raises(ConfigError, match="model.flat_unit: expected one of layer, encoder, got 'model'"):
        config.load(write(tmp_path, RECIPE), ["model.flat_unit=model"])
    assert config.load(write(tmp_path, RECIPE)).model.flat_layers == 4
    assert config.load(write(tmp_path, RECIPE), ["model.flat_layers=1"]).model.flat_layers == 1
    for bad in ("0", "-2"):
        with pytest.raises(ConfigError, match="model.flat_layers: expected a whole number of encoder layers >= 1"):
            config.load(write(tmp_path, RECIPE), [f"model.flat_layers={bad}"])
    with pytest.raises(ConfigError, match="model.flat_layers: expected int, got bool"):
        config.from_dict({"model": {"flat_layers": True}})


def test_missing_recipe_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="recipe not found"):
        config.load(str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="r.toml"):
        config.load(write(tmp_path, "[run\nname = 1"))


def test_dump_round_trip(tmp_path):
    cfg = config.load(write(tmp_path, RECIPE))
    path = os.path.join(tmp_path, "out", "config.json")
    config.dump(cfg, path)
    again = config.from_dict(json.load(open(path)))
    assert again == cfg


def test_every_field_has_a_docstring():
    docs = config.field_docs()
    import dataclasses
    for section in dataclasses.fields(config.Config):
        if section.name == "phases":
            continue
        cls = getattr(config, type(getattr(config.Config(), section.name)).__name__)
        for f in dataclasses.fields(cls):
            assert docs.get(f"{section.name}.{f.name}"), f"{section.name}.{f.name} has no docstring"


def test_help_config_prints_every_key_with_its_value_and_doc(tmp_path, capsys):
    from trainer.cli import main

    recipe = write(tmp_path, RECIPE)
    assert main(["train", recipe, "--help-config", "--optim.lr=3e-5", "--model.compile=inductor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = lines.index("optim.lr = 3e-05")
    assert lines[at + 1].strip() == " ".join(config.field_docs()["optim.lr"].split())
    assert 'model.compile = "inductor"' in lines and 'phases.1.init = "intermediate"' in lines
    assert "phases.1.per_task = true" in lines and "eval.perturb.kinds = []" in lines
    keys = [line.split(" = ")[0].rstrip(":") for line in lines if line and not line.startswith(" ")]
    assert len(keys) == len(set(keys))
    for key in config.field_docs():  # every documented key shows (phases once per phase)
        section, name = key.rsplit(".", 1)
        want = [f"phases.{i}.{name}" for i in range(2)] if section == "phases[]" else [key]
        assert all(w in keys for w in want), key

