"""The house reads one way: every import of groundcap runs downhill, and none closes a circle.

The rooms, from the foot up, are listed in :data:`ROOMS` (docs/layout.md draws
them). A module may import modules of its own room or of rooms below it, never
above; imports inside functions and under ``TYPE_CHECKING`` count too, since a
lazy import is still a dependency. The graph is read from the source with
``ast``, so the test needs nothing installed and names each offending import.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "groundcap"

#: The rooms from the foot up: (room, module patterns). A module belongs to the last room whose pattern matches.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("records", ("groundcap.records", "groundcap.records.*")),
    ("foundation", ("groundcap.errors", "groundcap.version", "groundcap.registry", "groundcap.timing")),
    ("settings", ("groundcap.config", "groundcap.config.*", "groundcap.assets", "groundcap.provenance")),
    ("text", ("groundcap.text", "groundcap.text.*")),
    ("data", ("groundcap.data", "groundcap.data.*")),
    ("detect", ("groundcap.detect", "groundcap.detect.*")),
    ("colors", ("groundcap.colors", "groundcap.colors.*")),
    ("spatial", ("groundcap.spatial", "groundcap.spatial.*")),
    ("facts", ("groundcap.facts", "groundcap.describe")),
    ("rerank", ("groundcap.rerank", "groundcap.rerank.*")),
    ("datastore", ("groundcap.datastore", "groundcap.datastore.*")),
    ("llm_finetune", ("groundcap.llm_finetune", "groundcap.llm_finetune.*")),
    ("eval", ("groundcap.eval", "groundcap.eval.*")),
    ("training", ("groundcap.llm_finetune.train", "groundcap.llm_finetune.sft_data", "groundcap.llm_finetune.best_of_n",
                  "groundcap.rerank.train_clip", "groundcap.rerank.clip_pairs", "groundcap.rerank.clip_tasks")),
    ("pipeline", ("groundcap.pipeline",)),
    ("engines", ("groundcap.engines", "groundcap.engines.*")),
    ("batch", ("groundcap.batch", "groundcap.report")),
    ("cli", ("groundcap", "groundcap.cli", "groundcap.*_cli", "groundcap.*.*_cli", "groundcap.*.cli",
             "groundcap.doctor", "groundcap.samples", "groundcap.__main__")),
)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The groundcap modules ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from x import name` names an attribute, not a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def room_of(module: str) -> int:
    rank = None
    for i, (_, patterns) in enumerate(ROOMS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            rank = i
    if rank is None:
        raise AssertionError(f"{module} is in no room: add it to ROOMS and to docs/layout.md")
    return rank


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_in_a_room() -> None:
    for name in modules():
        room_of(name)


def test_no_import_runs_uphill() -> None:
    uphill = [f"{a} ({ROOMS[room_of(a)][0]}) imports {b} ({ROOMS[room_of(b)][0]})"
              for a, targets in sorted(graph().items()) for b in sorted(targets) if room_of(b) > room_of(a)]
    assert uphill == []


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def test_records_import_nothing_else_of_groundcap() -> None:
    outside = {f"{a} imports {b}" for a, targets in graph().items() if ROOMS[room_of(a)][0] == "records"
               for b in targets if ROOMS[room_of(b)][0] != "records"}
    assert outside == set()


@pytest.mark.parametrize("source, expected", [
    ("import groundcap.records\n", {"groundcap.records"}),
    ("from groundcap.records import Facts\n", {"groundcap.records"}),
    ("from . import counts\n", {"groundcap.spatial.counts"}),
    ("from .counts import count_phrase\n", {"groundcap.spatial.counts"}),
    ("def f():\n    from groundcap.pipeline import Captioner\n", {"groundcap.pipeline"}),
    ("import numpy\n", set()),
])
def test_the_graph_reader_sees_each_import_form(tmp_path: Path, source: str, expected: set[str]) -> None:
    path = tmp_path / "__init__.py"
    path.write_text(source)
    known = {"groundcap.spatial": path, "groundcap.spatial.counts": path, "groundcap.records": path,
             "groundcap.pipeline": path}
    assert imports_of("groundcap.spatial", path, known) == expected


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


#: The longest a module may grow (docs/layout.md, "Sizes").
MAX_LINES = 400


def test_no_module_is_over_the_size_limit() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_no_module_imports_another_modules_private_names() -> None:
    """A name a module shares starts without an underscore; ``_name`` stays inside its own module."""
    private = []
    for name, path in sorted(modules().items()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("groundcap")):
                private += [f"{name} imports {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert private == []
