"""Imports point one way: the domain knows only the standard library and eventsourcing.domain, the
services and projections never reach into the adapters, and the services know no web or OCPP library."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def modules(package: str) -> list[Path]:
    found = sorted((SRC / package).rglob("*.py"))
    assert found, f"no modules under src/{package}"
    return found


def imported(path: Path, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (anywhere in the file), with its line, as an absolute name."""
    package = path.relative_to(root).parent.parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            for alias in node.names:
                # `from . import x` and `from eventsourcing import domain` name modules in their aliases.
                if not node.module or module == "eventsourcing":
                    yield node.lineno, ".".join(part for part in (module, alias.name) if part)
                else:
                    yield node.lineno, module


def top(name: str) -> str:
    return name.split(".")[0]


def domain_may_import(name: str) -> bool:
    return (
        top(name) in sys.stdlib_module_names
        or top(name) == "cloudbay_domain"
        or name == "eventsourcing.domain"
        or name.startswith("eventsourcing.domain.")
    )


def violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in modules(package)
        for line, name in imported(path)
        if top(name) in forbidden
    ]


def test_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    bad = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in modules("cloudbay_domain")
        for line, name in imported(path)
        if not domain_may_import(name)
    ]

    assert bad == []


@pytest.mark.parametrize("package", ["services", "projections"])
def test_services_and_projections_do_not_import_adapters(package: str) -> None:
    assert violations(package, {"adapters"}) == []


def test_services_know_no_web_or_ocpp_library() -> None:
    assert violations("services", {"starlette", "ocpp", "uvicorn"}) == []


# --- the checks themselves catch what they should --------------------------------------------------


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("import json", True),
        ("from __future__ import annotations", True),
        ("from eventsourcing.domain import Aggregate", True),
        ("from eventsourcing import domain", True),
        ("from . import user", True),
        ("from .user import User", True),
        ("from cloudbay_domain.user import User", True),
        ("import eventsourcing", False),
        ("from eventsourcing.application import Application", False),
        ("from eventsourcing import application", False),
        ("import pydantic", False),
        ("from services.platform import CloudBay", False),
        ("from .. import adapters", False),
        ("from ..adapters.http.chargers import routes", False),
        ("def f():\n    import starlette.requests\n", False),
    ],
)
def test_domain_rule_on_sample_sources(tmp_path: Path, source: str, allowed: bool) -> None:
    package = tmp_path / "cloudbay_domain"
    package.mkdir()
    module = package / "sample.py"
    module.write_text(source, encoding="utf-8")
    names = [name for _, name in imported(module, tmp_path)]

    assert names
    assert all(domain_may_import(name) for name in names) is allowed


@pytest.mark.parametrize(
    "source",
    ["import adapters", "from adapters.http.chargers import routes", "from ..adapters import rest", "from .. import adapters"],
)
def test_adapter_rule_on_sample_sources(tmp_path: Path, source: str) -> None:
    package = tmp_path / "services"
    package.mkdir()
    module = package / "sample.py"
    module.write_text(source, encoding="utf-8")

    assert [top(name) for _, name in imported(module, tmp_path)] == ["adapters"]
