"""Inputs that must be refused with a message naming where they are: slots written with digits
other than ASCII in a hostfile, and an "auto" left anywhere in a DeepSpeed JSON, lists included."""
from __future__ import annotations

import pytest

from tests import helpers as h
from trainer import config
from trainer.engine.build import fill_ds_config
from trainer.errors import EngineConfigError, HostfileError
from trainer.runtime.hostfile import parse_hostfile


# "²" and "٣" pass str.isdigit; int("٣") is 3 and int("²") raises a bare ValueError.
@pytest.mark.parametrize("slots", ["²", "٣", "２", "3²", "١٢"])
def test_hostfile_slots_must_be_ascii_digits_and_the_error_names_file_and_line(tmp_path, slots):
    path = h.write_text(str(tmp_path / "hosts"), f"node0 slots=2\nnode1 slots={slots}\n")
    with pytest.raises(HostfileError, match=r"hosts:2: slots must be a positive integer"):
        parse_hostfile(path)




def _base() -> dict:
    return {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto"}


@pytest.mark.parametrize("extra, where", [
    ({"zero_optimization": {"groups": [{"size": 1}, {"size": "auto"}]}}, "zero_optimization.groups.1.size"),
    ({"sizes": [8, "auto"]}, "sizes.1"),
    ({"nested": [[1, ["auto"]]]}, "nested.0.1.0"),
])
def test_an_auto_inside_a_list_is_refused_with_its_path(extra, where):
    ds = {**_base(), **extra}
    with pytest.raises(EngineConfigError, match=rf"no recipe value fills {where}$"):
        fill_ds_config(ds, config.Config(), lr=1e-5, global_batch=32, world_size=1, total_steps=10)


def test_lists_without_auto_pass_unchanged():
    ds = {**_base(), "sizes": [8, "x", {"a": 1}]}
    out = fill_ds_config(ds, config.Config(), lr=1e-5, global_batch=32, world_size=1, total_steps=10)
    assert out["sizes"] == [8, "x", {"a": 1}]


def test_hostfile_ascii_slots_are_read_as_integers(tmp_path):
    path = h.write_text(str(tmp_path / "hosts"), "node0 slots=12\nnode1 slots=007\n")
    assert parse_hostfile(path) == {"node0": 12, "node1": 7}
