"""The SDK seam: only runner/batch.py and runner/storage.py know the Azure SDKs. What
their public methods return is bwf's own types, never an SDK object or `Any`."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from runner.batch import Batch
from runner.storage import Storage

RUNNER = Path(__file__).resolve().parent.parent / "runner"
OWNERS = {"azure.batch": "batch.py", "azure.storage": "storage.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_service_modules_import_the_azure_sdks() -> None:
    offenders = []
    for path in sorted(RUNNER.glob("*.py")) + sorted((RUNNER / "commands").glob("*.py")):
        for name in _imports(path):
            if not name.startswith("azure"):
                continue
            owner = next((f for prefix, f in OWNERS.items() if name.startswith(prefix)), None)
            if path.name not in ("batch.py", "storage.py") or (owner and owner != path.name):
                offenders.append(f"{path.relative_to(RUNNER)} imports {name}")
    assert offenders == []


def _public_methods(cls: type) -> list[str]:
    return [n for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")]


@pytest.mark.parametrize("cls", [Batch, Storage])
def test_service_methods_return_bwfs_own_types(cls: type) -> None:
    import runner.batch
    import runner.storage

    module = runner.batch if cls is Batch else runner.storage
    leaks = []
    for name in _public_methods(cls):
        hints = typing.get_type_hints(getattr(cls, name), vars(module))
        returned = hints.get("return")
        shown = repr(returned)
        if returned is typing.Any or "typing.Any" in shown or "azure" in shown:
            leaks.append(f"{cls.__name__}.{name} -> {shown}")
    assert leaks == []
