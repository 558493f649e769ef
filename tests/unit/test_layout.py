"""The folders say what the README says: every service has the same core modules, each
enrichment backend is a package under `backends/`, and every error a service declares is
raised (or is the root of one that is)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingestor", "enricher", "router", "syncer", "api")
CORE = ("__main__.py", "app.py", "config.py", "service.py", "ports.py", "errors.py", "adapters")


def test_every_service_has_the_same_core() -> None:
    missing = [
        f"services/{service}/{part}"
        for service in SERVICES
        for part in CORE
        if not (ROOT / "services" / service / part).exists()
    ]
    assert missing == []


def test_each_enrichment_backend_is_a_package_under_backends() -> None:
    backends = ROOT / "services" / "enricher" / "backends"
    modules = sorted(p.name for p in backends.glob("*.py"))
    packages = sorted(p.name for p in backends.iterdir() if (p / "__init__.py").exists())
    assert modules == ["__init__.py", "base.py"]  # the interface, beside one package a backend
    assert packages == ["gemini", "offline"]


def _classes(tree: ast.AST) -> Iterator[ast.ClassDef]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef))


def _raised_names(tree: ast.AST) -> Iterator[str]:
    """Names of the errors a module raises: `raise X(...)`, `raise X`, `raise errors.X(...)`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                yield target.id
            elif isinstance(target, ast.Attribute):
                yield target.attr


def test_every_declared_error_is_raised_or_the_root_of_one_that_is() -> None:
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in (ROOT / "services").rglob("*.py")]
    raised = {name for tree in trees for name in _raised_names(tree)}
    bases = {
        (cls.name, base.id if isinstance(base, ast.Name) else ast.unparse(base))
        for tree in trees
        for cls in _classes(tree)
        for base in cls.bases
    }

    def used(name: str) -> bool:
        return name in raised or any(used(sub) for sub, base in bases if base == name)

    declared = [
        f"services/{service}/errors.py: {cls.name}"
        for service in SERVICES
        for cls in _classes(ast.parse((ROOT / "services" / service / "errors.py").read_text()))
    ]
    assert [d for d in declared if not used(d.rsplit(" ", 1)[1])] == []
