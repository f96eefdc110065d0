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


def _refusal(tmp_path, text: str) -> str:
    path = h.write_text(str(tmp_path / "hosts"), text)
    with pytest.raises(HostfileError) as err:
        parse_hostfile(path)
    return str(err.value).removeprefix(path)


@pytest.mark.parametrize("line, hint", [
    ("node2:2", True),           # MPI's machinefile syntax: the hint says how to write it here
    ("node2", False), ("node2:2 slots", False), ("fe80::1 slots=2 x", False),
])
def test_a_line_not_in_host_slots_form_is_refused_with_a_hint_only_for_mpi_syntax(tmp_path, line, hint):
    msg = _refusal(tmp_path, f"node1 slots=1\n{line}\n")
    want = f":2: expected `host slots=N`, got {line!r}"
    assert msg == want + (" (MPI's `host:N` is written `host slots=N` here)" if hint else "")


def test_only_the_first_hash_starts_a_comment(tmp_path):
    path = h.write_text(str(tmp_path / "hosts"), "node1 slots=2 # a # b\r\nnode2 slots=1#c\n")
    assert parse_hostfile(path) == {"node1": 2, "node2": 1}


@pytest.mark.parametrize("name, ok", [("fe80::1", True), ("fe80::1%eth0", True), ("10.0.0.1", True),
                                      ("a%eth0", False), ("node-1.example", True), ("-node", False)])
def test_host_names_and_addresses(name, ok):
    from trainer.runtime.hostfile import valid_host

    assert valid_host(name) is ok
