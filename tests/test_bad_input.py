"""Bad input: every case ends with exit code 2 and one message naming the file and line or the
recipe key, before any rank starts where the input can be checked up front (recipes and
hostfiles through `xstilts train --dry-run`); data errors that only a worker can find name the
file and line too. Reader-level data cases (JSON, missing fields, labels, UTF-8, empty files,
QA answers, duplicate ids) live in test_tasks_real.py; docs/bad_input.md lists them all.

Also the security properties of what the tool reads and runs: weights-only loading, no remote
model code unless asked, TensorBoard on loopback, no shell between a hostfile and a launcher.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

import pytest

from tests import helpers as h
from trainer.commands import demo, launch
from trainer.errors import UserError
from trainer.runtime.hostfile import HostfileError, parse_hostfile

CODE_DIRS = ("trainer", "eval")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> h.Workspace:
    return h.make_workspace(str(tmp_path_factory.mktemp("bad")), tok=h.session_tok(tmp_path_factory))


def dry_run(ws: h.Workspace, capsys, *args: str, recipe: str | None = None) -> str:
    """`xstilts train RECIPE --dry-run ARGS`: asserts exit code 2, returns the message."""
    rc, out = h.cli(["train", recipe or ws.recipe, "--dry-run", *args], capsys)
    assert rc == 2, f"expected exit 2, got {rc}: {out}"
    return out


def recipe_with(ws: h.Workspace, tmp_path, edit) -> str:
    tree = h.recipe_tree(ws.data, ws.tok, str(tmp_path / "run"))
    edit(tree)
    return h.write_text(str(tmp_path / "recipe.toml"), h.dump_toml(tree))


def test_good_recipe_passes_the_dry_run(ws, capsys):
    rc, out = h.cli(["train", ws.recipe, "--dry-run"], capsys)
    assert rc == 0 and "recipe ok" in out


# ---------------------------------------------------------------- recipes

RECIPE_CASES = {
    # id: (CLI overrides, expected message)
    "unknown_key": (["--run.colour=red"], "unknown key run.colour"),
    "wrong_type": (["--deepspeed.micro_batch=four"], "--deepspeed.micro_batch: invalid literal"),
    "unknown_task": (["--phases.0.tasks=xnli,nope"], "unknown task 'nope'"),
    "batch_not_divisible": (["--world-size=3"], "deepspeed.global_batch = 16 is not divisible by "
                                                "micro_batch x world size = 4 x 3 = 12"),
    "missing_deepspeed_config": (["--deepspeed.config=/nonexistent/ds.json"],
                                 "deepspeed.config: DeepSpeed config not found: /nonexistent/ds.json"),
    "export_that_does_not_exist": (["--phases.0.init=pretraining"],
                                   "phases.0.init: 'pretraining' is not `pretrained` or an earlier phase"),
    "unknown_precision": (["--deepspeed.precision=fp8"], "deepspeed.precision: expected bf16, fp16 or fp32"),
    "unknown_language_code": (["--eval.languages=en,xx"], "eval.languages: unknown language code(s) ['xx']"),
    "longer_than_the_model": (["--data.max_length=512"], "data.max_length = 512 exceeds what the model "
                                                         "allows (64 tokens"),
}


@pytest.mark.parametrize("case", sorted(RECIPE_CASES))
def test_recipe_errors_name_the_key(ws, capsys, case):
    args, message = RECIPE_CASES[case]
    out = dry_run(ws, capsys, *args)
    assert message in out, out


def test_recipe_with_a_wrong_type_in_the_file(ws, capsys, tmp_path):
    recipe = recipe_with(ws, tmp_path, lambda t: t["deepspeed"].update(micro_batch="4"))
    out = dry_run(ws, capsys, recipe=recipe)
    assert f"{recipe}: deepspeed.micro_batch: expected int, got str ('4')" in out


def test_recipe_with_broken_toml_names_the_line(ws, capsys, tmp_path):
    recipe = h.write_text(str(tmp_path / "r.toml"), "[run]\nname = \"x\"\nout = \n")
    out = dry_run(ws, capsys, recipe=recipe)
    assert recipe in out and "line 3" in out


def test_bf16_and_fp16_both_on(ws, capsys, tmp_path):
    ds = json.load(open(os.path.join(h.ROOT, "ds_configs", "zero2_bf16.json")))
    ds["bf16"]["enabled"] = ds["fp16"]["enabled"] = True
    path = h.write_text(str(tmp_path / "ds.json"), json.dumps(ds))
    out = dry_run(ws, capsys, f"--deepspeed.config={path}")
    # the recipe's precision (fp32 here) decides; the JSON's first contradicting key is named
    assert f"{path}.bf16.enabled = True in the DeepSpeed config disagrees with the recipe (False)" in out


def test_deepspeed_config_with_broken_json_names_the_line(ws, capsys, tmp_path):
    path = h.write_text(str(tmp_path / "ds.json"), '{\n  "train_batch_size": "auto",\n  oops\n}\n')
    out = dry_run(ws, capsys, f"--deepspeed.config={path}")
    assert f"{path}:3: invalid JSON" in out


# ---------------------------------------------------------------- hostfiles

HOSTFILE_CASES = {
    # id: (hostfile text, line, expected message)
    "bad_syntax": ("node1 slots=2\nnode2:2\n", 2, "expected `host slots=N`, got 'node2:2'"),
    "zero_slots": ("node1 slots=2\nnode2 slots=0\n", 2, "host node2 has zero slots (it would run no rank)"),
    "duplicate_host": ("node1 slots=2\n# again\nnode1 slots=2\n", 3,
                       "duplicate host node1 (first on line 1)"),
    "slots_not_a_number": ("node1 slots=two\n", 1, "slots must be a positive integer, got 'two'"),
    "shell_characters": ("node1;reboot slots=1\n", 1, "'node1;reboot' is not a host name or IP address"),
    "no_hosts": ("# nothing here\n\n", None, "no hosts (every line is blank or a comment)"),
    "invalid_utf8": (b"node1 slots=1\nn\xffde slots=1\n", 2, "invalid UTF-8 at byte 1 of the line"),
}


@pytest.mark.parametrize("case", sorted(HOSTFILE_CASES))
def test_hostfile_errors_name_file_and_line(ws, capsys, tmp_path, case):
    text, line, message = HOSTFILE_CASES[case]
    path = h.write_text(str(tmp_path / "hosts"), text)
    with pytest.raises(HostfileError) as err:
        parse_hostfile(path)
    where = f"{path}:{line}" if line else path
    assert str(err.value).startswith(f"{where}: {message}"), str(err.value)
    out = dry_run(ws, capsys, "--hostfile", path)  # and the CLI refuses it before any launch
    assert f"{where}: {message}" in out


def test_missing_hostfile(ws, capsys, tmp_path):
    out = dry_run(ws, capsys, "--hostfile", str(tmp_path / "nowhere"))
    assert f"{tmp_path / 'nowhere'}: hostfile not found" in out


def test_hostfile_sets_the_dry_run_world_size(ws, capsys, tmp_path):
    path = h.write_text(str(tmp_path / "hosts"), "a slots=2\nb slots=2  # four ranks\n")
    assert parse_hostfile(path) == {"a": 2, "b": 2}
    rc, out = h.cli(["train", ws.recipe, "--dry-run", "--hostfile", path], capsys)
    assert rc == 0 and "world size 4" in out
    out = dry_run(ws, capsys, "--hostfile", path, "--world-size=2")
    assert "--world-size 2 disagrees with" in out and "(4 slots)" in out


def test_demo_refuses_a_hostfile_for_a_launcher_without_one(tmp_path):
    path = h.write_text(str(tmp_path / "hosts"), "a slots=2\n")
    with pytest.raises(UserError, match="--hostfile works with the deepspeed and mpirun"):
        launch.demo_command(str(tmp_path / "out"), 2, "torchrun", hostfile=path)


# ---------------------------------------------------------------- command line


def test_missing_recipe_file(capsys, tmp_path):
    rc, out = h.cli(["train", str(tmp_path / "nope.toml"), "--dry-run"], capsys)
    assert rc == 2 and f"recipe not found: {tmp_path / 'nope.toml'}" in out


def test_unknown_command_line_argument(ws, capsys):
    rc, out = h.cli(["train", ws.recipe, "--dry-run", "--colour", "red"], capsys)
    assert rc == 2 and "unrecognized arguments: --colour red" in out


def real_start(ws: h.Workspace, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """A real single-process `xstilts train` (no dry run): these errors are found at start."""
    cmd = [sys.executable, "-m", "trainer.cli", "train", ws.recipe, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=h.ROOT, env=h.launch_env())


@pytest.mark.slow
def test_unwritable_output_folder(ws, tmp_path):
    blocker = h.write_text(str(tmp_path / "file"), "not a folder")
    p = real_start(ws, tmp_path, "--out", os.path.join(blocker, "run"))
    assert p.returncode == 2
    assert f"run folder {blocker}/run is not writable" in p.stderr


# ---------------------------------------------------------------- data, found by the workers


@pytest.mark.slow
def test_malformed_training_row_names_file_and_line(ws, tmp_path):
    data = h.write_xnli(str(tmp_path / "data"))
    train = os.path.join(data, "xnli", "train-en.tsv")
    lines = open(train).read().splitlines()
    lines[2] = "a premise without the rest"
    h.write_text(train, "\n".join(lines) + "\n")
    p = real_start(ws, tmp_path, "--out", str(tmp_path / "run"), f"--data.root={data}")
    assert p.returncode == 2, p.stderr[-2000:]
    assert f"xstilts: error: rank 0: {train}:3: expected 3 tab-separated columns, found 1" in p.stderr


@pytest.mark.slow
def test_missing_training_file(ws, tmp_path):
    p = real_start(ws, tmp_path, "--out", str(tmp_path / "run"), f"--data.root={tmp_path / 'empty'}")
    assert p.returncode == 2, p.stderr[-2000:]
    assert f"train data for en not found: {tmp_path / 'empty'}/xnli/train-en.tsv" in p.stderr


def test_truncated_training_text_is_counted_and_logged(ws, tmp_path, caplog):
    from trainer import config
    from trainer.data.streams import load_train_features
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.runtime.dist import DistInfo
    from trainer.tasks import get_task

    data = h.write_xnli(str(tmp_path / "data"))
    long = " ".join(["word"] * 200)
    with open(os.path.join(data, "xnli", "train-en.tsv"), "a") as f:
        f.write(f"{long}\t{long}\tneutral\n{long}\tshort.\tentailment\n")
    cfg = config.load(ws.recipe, [f"--data.root={data}", f"--run.out={tmp_path / 'run'}"])
    caplog.set_level("WARNING", logger="xstilts.data")
    features = load_train_features(cfg, get_task("xnli"), load_tokenizer_from(ws.tok), DistInfo())
    assert max(features["length"]) == cfg.data.max_length
    assert ("xnli: 2 of 66 training features reached data.max_length = 48 tokens and were truncated"
            in caplog.text)


# ---------------------------------------------------------------- security


def project_sources() -> list[str]:
    paths = []
    for top in CODE_DIRS:
        for folder, _, files in os.walk(os.path.join(h.ROOT, top)):
            paths += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return paths


def test_every_torch_load_is_weights_only():
    # DeepSpeed's own checkpoint reads (torch.load(weights_only=False)) are outside the project;
    # docs/bad_input.md says so. Ours must never unpickle arbitrary objects.
    offenders = []
    for path in project_sources():
        for node in ast.walk(ast.parse(open(path).read(), path)):
            func = getattr(node, "func", None)
            if (isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and func.attr == "load"
                    and isinstance(func.value, ast.Name) and func.value.id == "torch"):
                kw = {k.arg: k.value for k in node.keywords}
                flag = kw.get("weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    offenders.append(f"{path}:{node.lineno}")
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


def test_no_shell_between_input_and_a_process():
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.getoutput\(")
    hits = [f"{p}:{n}" for p in project_sources()
            for n, line in enumerate(open(p), 1) if pattern.search(line)]
    assert not hits, hits


def test_demo_launch_passes_the_hostfile_as_one_argument(tmp_path, monkeypatch):
    path = h.write_text(str(tmp_path / "my hosts; echo owned"), "localhost slots=2\n")
    calls = []
    monkeypatch.setattr(demo.subprocess, "call", lambda cmd, **kw: calls.append((cmd, kw)) or 1)
    from trainer.cli import main

    assert main(["demo", "--out", str(tmp_path / "out"), "--hostfile", path]) == 1
    cmd, kw = calls[0]
    assert isinstance(cmd, list) and "shell" not in kw
    assert cmd[cmd.index("--hostfile") + 1] == path  # one argv element, never parsed by a shell
    mpirun = launch.demo_command(str(tmp_path / "out"), 2, "mpirun", hostfile=path)
    machines = mpirun[mpirun.index("-f") + 1]
    assert open(machines).read() == "localhost:2\n" and mpirun[mpirun.index("-np") + 1] == "2"


def test_trust_remote_code_is_off_unless_the_recipe_turns_it_on(monkeypatch, tmp_path):
    import transformers as tf

    from trainer.config import ModelConfig
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.model.build import _load_pretrained_encoder

    assert ModelConfig().trust_remote_code is False
    seen = []

    def fake(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(tf.AutoModel, "from_pretrained", fake)
    monkeypatch.setattr(tf.AutoModelForMaskedLM, "from_pretrained", fake)
    monkeypatch.setattr(tf.AutoTokenizer, "from_pretrained", fake)
    for flag in (False, True):
        for need_mlm in (False, True):
            with pytest.raises(RuntimeError, match="stop here"):
                _load_pretrained_encoder(ModelConfig(name="some/model", trust_remote_code=flag), need_mlm)
        with pytest.raises(RuntimeError, match="stop here"):
            load_tokenizer_from("some/model", flag)
    assert seen == [False, False, False, True, True, True]


def test_phase_init_from_an_export_passes_trust_remote_code(monkeypatch, tmp_path):
    import transformers as tf

    from trainer.config import ModelConfig
    from trainer.model.build import build_model

    export = tmp_path / "export"
    export.mkdir()
    (export / "xstilts.json").write_text(json.dumps({"heads": {}, "task_to_head": {}}))
    seen = []

    def fake(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(tf.AutoModel, "from_pretrained", fake)
    for flag in (False, True):
        with pytest.raises(RuntimeError, match="stop here"):
            build_model(ModelConfig(name="x", trust_remote_code=flag), {}, {}, init=str(export))
    assert seen == [False, True]


def test_tensorboard_is_only_ever_offered_on_loopback():
    docs = [os.path.join(h.ROOT, "docs", f) for f in os.listdir(os.path.join(h.ROOT, "docs"))]
    texts = {p: open(p).read() for p in project_sources() + [os.path.join(h.ROOT, "README.md")] + docs
             if os.path.isfile(p)}
    for path, text in texts.items():
        if not path.endswith("bad_input.md"):  # the catalogue of checks names what this one refuses
            assert "--bind_all" not in text and "0.0.0.0" not in text, path
        for line in text.splitlines():
            if re.search(r"tensorboard\s+--logdir", line):
                assert "--host 127.0.0.1" in line, f"{path}: {line.strip()}"
    assert not any("program.TensorBoard" in t for t in texts.values())  # the tool starts none itself


def test_exports_are_safetensors_only(tmp_path):
    from trainer.config import ModelConfig
    from trainer.model.build import build_model
    from trainer.model.export import save_export
    from trainer.model.multitask import HeadSpec
    from trainer.synth.toy_tokenizer import load_tokenizer

    tok = load_tokenizer(h.build_tok(str(tmp_path / "tok")))
    tiny = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": len(tok)}
    cfg = ModelConfig(name="", init_config=tiny)
    model = build_model(cfg, {"nli": HeadSpec("classification", 3, ["a", "b", "c"])}, {"xnli": "nli"})
    save_export(model, str(tmp_path / "export"), tok)
    files = os.listdir(tmp_path / "export")
    weights = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".safetensors"))]
    assert weights and all(f.endswith(".safetensors") for f in weights), files
