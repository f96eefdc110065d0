"""The layout's rules, read from the source with ``ast`` (imports inside functions included):
each room of trainer/ imports only the rooms below it, no import cycle, no project import
hidden in a function body, DeepSpeed behind its two doors, eval/ free of trainer/, and files
small enough to read. docs/architecture.md describes the same table in words."""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# room -> the rooms it may import (besides itself). A room is a subpackage of trainer/ or one of
# its top-level modules; "eval" is the scoring library beside it.
ALLOWED = {
    "errors": set(),
    "runtime": {"errors"},
    "synth": {"errors"},
    "tasks": {"errors", "synth", "eval"},
    "config": {"errors", "tasks", "eval"},
    "data": {"errors", "runtime", "synth", "tasks", "config", "eval"},
    "model": {"errors"},
    "engine": {"errors", "runtime", "config"},
    "evaluation": {"errors", "runtime", "tasks", "config", "data", "model", "eval"},
    "training": {"errors", "runtime", "tasks", "config", "data", "model", "engine", "evaluation", "eval"},
    "commands": {"errors", "runtime", "synth", "tasks", "config", "data", "model", "engine", "evaluation",
                 "training", "eval"},
    # cli installs the stop-signal handlers (runtime.preempt) before a training command's heavy
    # imports: a scheduler's signal in those seconds would otherwise end the process
    "cli": {"errors", "runtime", "commands"},
    "__main__": {"cli"},
    "eval": set(),
}
DEEPSPEED_DOORS = ("trainer/engine/", "trainer/runtime/dist.py")
MAX_TOP_MODULES = 10
MAX_LINES = 400


def source_files(*tops: str) -> list[str]:
    out = []
    for top in tops:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            out += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".py")]
    return sorted(out)


def module_name(path: str) -> str:
    parts = path[:-3].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "eval":
        return "eval"
    return parts[1] if len(parts) > 1 else "trainer"


class Imports(ast.NodeVisitor):
    """Every import of a file: (module, line, inside a function?)."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, int, bool]] = []
        self.depth = 0

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            pkg = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            pkg = pkg[:len(pkg) - node.level + 1]
            base = ".".join(pkg + ([node.module] if node.module else []))
        for alias in node.names:  # `from trainer.runtime import dist` imports the module dist
            self.found.append((f"{base}.{alias.name}" if base else alias.name, node.lineno, self.depth > 0))


def command_modules() -> list[str]:
    """cli.py's {command: module} dict: imported by name when the command runs."""
    tree = ast.parse(open(os.path.join(ROOT, "trainer", "cli.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "COMMANDS" for t in node.targets):
            return [v.value for v in node.value.values]
    raise AssertionError("trainer/cli.py has no COMMANDS dict")


def graph() -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int, bool]]]]:
    """Project module -> the project modules it imports; and every file's raw imports."""
    files = source_files("trainer", "eval")
    modules = {module_name(f): f for f in files}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    raw: dict[str, list] = {}
    for mod, path in modules.items():
        visitor = Imports(mod, path.endswith("__init__.py"))
        visitor.visit(ast.parse(open(os.path.join(ROOT, path)).read(), path))
        raw[path] = visitor.found
        for name, _, _ in visitor.found:
            # the longest project module the name starts with (a name may end in a function)
            target = next((name[:i] for i in sorted({len(name)} | {j for j, c in enumerate(name) if c == "."},
                                                     reverse=True) if name[:i] in modules), None)
            if target and target != mod:
                edges[mod].add(target)
    edges["trainer.cli"] |= set(command_modules())
    return edges, raw


EDGES, RAW = graph()


def test_cli_names_existing_command_modules():
    files = {module_name(f) for f in source_files("trainer")}
    assert set(command_modules()) <= files


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(EDGES[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(EDGES):
        if m not in state:
            visit(m)


def test_each_room_imports_only_the_rooms_below_it():
    bad = []
    for mod, targets in EDGES.items():
        src = room(mod)
        if src == "trainer":  # trainer/__init__.py
            assert not targets, targets
            continue
        assert src in ALLOWED, f"{mod}: room {src!r} is not in the layer table (tests/test_layers.py)"
        for t in targets:
            dst = room(t)
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{mod} imports {t} ({src} may import {sorted(ALLOWED[src]) or 'nothing'})")
    assert not bad, "\n".join(bad)


def test_rooms_form_layers():
    """The table itself has no cycle, so every room sits strictly above the rooms it uses."""
    order: list[str] = []
    pending = dict(ALLOWED)
    while pending:
        ready = [r for r, deps in pending.items() if deps <= set(order)]
        assert ready, f"the layer table has a cycle among {sorted(pending)}"
        order += sorted(ready)
        for r in ready:
            del pending[r]


def test_no_project_import_inside_a_function():
    """A function-level import is only for an optional or heavy third-party dependency (torch,
    deepspeed, transformers), never to dodge an import cycle."""
    bad = [f"{path}:{line}: {name}" for path, found in RAW.items() for name, line, inner in found
           if inner and name.split(".")[0] in ("trainer", "eval")]
    assert not bad, "\n".join(bad)


def test_deepspeed_only_behind_its_doors():
    bad = [f"{path}:{line}: {name}" for path, found in RAW.items() for name, line, _ in found
           if name.split(".")[0] == "deepspeed" and not path.startswith(DEEPSPEED_DOORS)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("forbidden", ["deepspeed", "torch.distributed"])
def test_model_code_is_single_device(forbidden):
    bad = [f"{path}:{line}: {name}" for path, found in RAW.items() if path.startswith("trainer/model/")
           for name, line, _ in found if name == forbidden or name.startswith(forbidden + ".")]
    assert not bad, "\n".join(bad)


def test_eval_never_imports_trainer():
    bad = [f"{path}:{line}: {name}" for path, found in RAW.items() if path.startswith("eval/")
           for name, line, _ in found if name.split(".")[0] == "trainer"]
    assert not bad, "\n".join(bad)


def test_few_modules_directly_in_trainer():
    top = [f for f in os.listdir(os.path.join(ROOT, "trainer")) if f.endswith(".py")]
    assert len(top) <= MAX_TOP_MODULES, sorted(top)


def test_no_source_file_over_the_limit():
    long = [(path, n) for path in source_files("trainer", "eval")
            if (n := sum(1 for _ in open(os.path.join(ROOT, path)))) > MAX_LINES]
    assert not long, long


def test_the_rules_catch_a_cycle_and_a_layer_breach():
    """The checks above would fail on a layout that breaks them (a check that cannot fail proves
    nothing): an evaluation module importing training, and a cycle through it."""
    edges = {m: set(t) for m, t in EDGES.items()}
    edges["trainer.evaluation.driver"].add("trainer.training.loop")
    breaches = [t for t in edges["trainer.evaluation.driver"] if room(t) not in ALLOWED["evaluation"] | {"evaluation"}]
    assert breaches == ["trainer.training.loop"]
    seen, stack = set(), ["trainer.training.loop"]
    while stack:  # training.loop reaches evaluation.driver, which now reaches it back
        m = stack.pop()
        if m not in seen:
            seen.add(m)
            stack += edges[m]
    assert "trainer.evaluation.driver" in seen
