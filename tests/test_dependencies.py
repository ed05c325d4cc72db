"""The package's declared dependencies are the third-party packages it imports: every
top-level import of loadtest/ (read with ast) is declared in pyproject.toml, and every runtime
dependency declared is imported (pytest, only a test tool, is in the `test` extra)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.support import ROOT


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> set[str]:
    found = set()
    for path in (ROOT / "loadtest").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "loadtest"}


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    def names(reqs: list[str]) -> set[str]:
        return {_normal(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in reqs}
    return names(project["dependencies"]), names(project["optional-dependencies"]["test"])


def test_every_import_is_declared_and_every_dependency_imported() -> None:
    dists = packages_distributions()
    modules = imported_modules()
    unknown = {m for m in modules if m not in dists}
    assert not unknown, f"imported but not installed: {sorted(unknown)}"
    imported = {_normal(d) for m in modules for d in dists[m]}
    runtime, test_extra = declared()
    assert imported - runtime == set(), "imported by loadtest/ but not in [project] dependencies"
    assert runtime - imported == set(), "declared but never imported by loadtest/"
    assert "pytest" not in runtime and "pytest" in test_extra
    assert {"numpy", "requests", "psutil"} <= runtime
