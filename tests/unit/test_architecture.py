"""Imports point one way: the domain knows only the standard library and eventsourcing.domain; the services
know the domain and eventsourcing only; the projections know the domain, eventsourcing and their database
drivers only. No two modules of src import each other (directly or round a loop), and no module is long. Adapters
translate only: no handler (an HTTP or WebSocket endpoint, a CLI command, an OCPP message handler) is long."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_MODULE_LINES = 300
MAX_HANDLER_LINES = 15
ENDPOINT_PACKAGES = ("adapters/http", "adapters/cli")  # endpoints (first parameter Request, WebSocket), commands
OCPP_PACKAGE = "adapters/ocpp"  # methods decorated @handles(...)
DB_DRIVERS = {"sqlite3", "psycopg", "psycopg_pool"}


def modules(package: str, root: Path = SRC) -> list[Path]:
    found = sorted((root / package).rglob("*.py"))
    assert found, f"no modules under src/{package}"
    return found


def _names(node: ast.Import | ast.ImportFrom, package: tuple[str, ...]) -> Iterator[str]:
    """The absolute names one import statement names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
    module = ".".join(part for part in (base, node.module) if part)
    for alias in node.names:
        # `from . import x` and `from eventsourcing import domain` name modules in their aliases.
        if not node.module or module == "eventsourcing":
            yield ".".join(part for part in (module, alias.name) if part)
        else:
            yield module


def _package_of(path: Path, root: Path) -> tuple[str, ...]:
    return path.relative_to(root).parent.parts


def imported(path: Path, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (anywhere in the file), with its line, as an absolute name."""
    package = _package_of(path, root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _names(node, package):
                yield node.lineno, name


def _module_level(body: Iterable[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements run when the module is imported or type-checked: in the module's body and in the
    ``if`` (TYPE_CHECKING included), ``try`` and ``with`` blocks there, never inside a function or a class."""
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
        elif isinstance(stmt, ast.If | ast.With):
            yield from _module_level(stmt.body)
            yield from _module_level(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try):
            yield from _module_level(stmt.body)
            for handler in stmt.handlers:
                yield from _module_level(handler.body)
            yield from _module_level(stmt.orelse)
            yield from _module_level(stmt.finalbody)


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module -> the modules of ``root`` it imports at module level (``from p import m``: the module p.m)."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = _package_of(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _module_level(tree.body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                base = ".".join(part for part in (base, node.module) if part)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            graph[name].update(t for t in targets if t in paths and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def top(name: str) -> str:
    return name.split(".")[0]


def stdlib(name: str) -> bool:
    return top(name) in sys.stdlib_module_names


def domain_may_import(name: str) -> bool:
    return (
        stdlib(name)
        or top(name) == "cloudbay_domain"
        or name == "eventsourcing.domain"
        or name.startswith("eventsourcing.domain.")
    )


def services_may_import(name: str) -> bool:
    return stdlib(name) or top(name) in {"cloudbay_domain", "services", "eventsourcing"}


def projections_may_import(name: str) -> bool:
    return stdlib(name) or top(name) in {"cloudbay_domain", "projections", "eventsourcing", *DB_DRIVERS}


def disallowed(package: str, allowed: Callable[[str], bool], root: Path = SRC) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in modules(package, root)
        for line, name in imported(path, root)
        if not allowed(name)
    ]


def violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in modules(package)
        for line, name in imported(path)
        if top(name) in forbidden
    ]


def long_modules(root: Path = SRC, limit: int = MAX_MODULE_LINES) -> list[str]:
    lengths = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in sorted(root.rglob("*.py"))}
    return [f"{path.relative_to(root)}: {n} lines" for path, n in lengths.items() if n > limit]


Function = ast.FunctionDef | ast.AsyncFunctionDef


def body_lines(function: Function) -> int:
    """The lines a function's body spans, from its first statement to the end of its last, docstring excluded."""
    body = function.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    if not body:
        return 0
    end = body[-1].end_lineno or body[-1].lineno
    return end - body[0].lineno + 1


def _decorators(function: Function) -> Iterator[tuple[bool, str]]:
    """Each decorator's callee, called or not: (whether it is an attribute, its last name)."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute):
            yield True, target.attr
        elif isinstance(target, ast.Name):
            yield False, target.id


def _first_parameter_type(function: Function) -> str | None:
    """The last name of the first parameter's annotation (``Request``, ``starlette.requests.Request``, "Request")."""
    parameters = [*function.args.posonlyargs, *function.args.args]
    annotation = parameters[0].annotation if parameters else None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.rsplit(".", 1)[-1].strip()
    if isinstance(annotation, ast.Attribute):
        return annotation.attr
    if isinstance(annotation, ast.Name):
        return annotation.id
    return None


def is_endpoint_or_command(function: Function) -> bool:
    """An HTTP or WebSocket endpoint (first parameter a Request or a WebSocket), or a typer command."""
    return _first_parameter_type(function) in ("Request", "WebSocket") or (True, "command") in _decorators(function)


def is_ocpp_handler(function: Function) -> bool:
    return any(name == "handles" for _, name in _decorators(function))


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function and method under ``node``, nested ones included, by qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def handlers(root: Path = SRC) -> dict[str, int]:
    """``path::qualified name`` -> body lines, for every handler the rule covers."""
    kinds: list[tuple[str, Callable[[Function], bool]]] = [
        *((package, is_endpoint_or_command) for package in ENDPOINT_PACKAGES),
        (OCPP_PACKAGE, is_ocpp_handler),
    ]
    found: dict[str, int] = {}
    for package, is_handler in kinds:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, function in _functions(tree):
                if is_handler(function):
                    found[f"{path.relative_to(root)}::{name}"] = body_lines(function)
    return found


def long_handlers(root: Path = SRC, limit: int = MAX_HANDLER_LINES) -> list[str]:
    return [f"{name} ({n} lines)" for name, n in handlers(root).items() if n > limit]


# --- the rules, on src ------------------------------------------------------------------------------


def test_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    assert disallowed("cloudbay_domain", domain_may_import) == []


def test_services_import_only_the_domain_and_eventsourcing() -> None:
    assert disallowed("services", services_may_import) == []


def test_projections_import_only_the_domain_eventsourcing_and_database_drivers() -> None:
    assert disallowed("projections", projections_may_import) == []


@pytest.mark.parametrize("package", ["services", "projections"])
def test_services_and_projections_do_not_import_adapters(package: str) -> None:
    assert violations(package, {"adapters"}) == []


def test_services_know_no_web_ocpp_or_database_library() -> None:
    forbidden = {"adapters", "projections", "starlette", "ocpp", "uvicorn", "websockets", "psycopg", "sqlite3"}

    assert violations("services", forbidden) == []


def test_projections_do_not_import_services() -> None:
    assert violations("projections", {"services", "adapters"}) == []


def test_no_import_cycles_among_src_modules() -> None:
    graph = import_graph()
    assert {"services.platform", "adapters.wiring", "cloudbay_domain.charger"} <= set(graph)

    found = cycles(graph)
    assert found == [], "import cycles (module-level, TYPE_CHECKING included): " + "; ".join(
        " <-> ".join(cycle) for cycle in found
    )


def test_no_module_is_over_300_lines() -> None:
    offenders = long_modules()

    assert offenders == [], f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(offenders)


def test_no_adapter_handler_is_over_15_lines() -> None:
    found = handlers()
    assert {
        "adapters/http/chargers.py::list_chargers",
        "adapters/http/live.py::live_endpoint",
        "adapters/cli/main.py::replay",
        "adapters/ocpp/station.py::StationSession.on_boot_notification",
    } <= set(found), "the handler check no longer finds the handlers it is about"

    offenders = long_handlers()
    assert offenders == [], f"handlers over {MAX_HANDLER_LINES} body lines (extract helpers): " + ", ".join(offenders)


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
        ("from services.platform import Platform", False),
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
    ("source", "allowed"),
    [
        ("import threading", True),
        ("from eventsourcing.application import Application", True),
        ("from eventsourcing.persistence import IntegrityError", True),
        ("from cloudbay_domain.charger import Charger", True),
        ("from .store import EventLog", True),
        ("from services.errors import ServiceError", True),
        ("from adapters.wiring import Runtime", False),
        ("from projections.fleet import FleetQueries", False),
        ("from starlette.requests import Request", False),
        ("from ocpp.v201 import call", False),
        ("import websockets", False),
        ("def f():\n    import psycopg\n", False),
        ("from .. import projections", False),
    ],
)
def test_services_rule_on_sample_sources(tmp_path: Path, source: str, allowed: bool) -> None:
    package = tmp_path / "services"
    package.mkdir()
    (package / "sample.py").write_text(source, encoding="utf-8")

    assert (disallowed("services", services_may_import, tmp_path) == []) is allowed


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("import sqlite3", True),
        ("def f():\n    from psycopg_pool import ConnectionPool\n", True),
        ("from psycopg.rows import dict_row", True),
        ("from eventsourcing.application import Application", True),
        ("from cloudbay_domain.transaction import Transaction", True),
        ("from .db import ReadModelDB", True),
        ("from services.store import EventLog", False),
        ("from adapters.settings import StoreSettings", False),
        ("from ..services import platform", False),
        ("import starlette", False),
    ],
)
def test_projections_rule_on_sample_sources(tmp_path: Path, source: str, allowed: bool) -> None:
    package = tmp_path / "projections"
    package.mkdir()
    (package / "sample.py").write_text(source, encoding="utf-8")

    assert (disallowed("projections", projections_may_import, tmp_path) == []) is allowed


@pytest.mark.parametrize(
    "source",
    [
        "import adapters",
        "from adapters.http.chargers import routes",
        "from ..adapters import rest",
        "from .. import adapters",
    ],
)
def test_adapter_rule_on_sample_sources(tmp_path: Path, source: str) -> None:
    package = tmp_path / "services"
    package.mkdir()
    module = package / "sample.py"
    module.write_text(source, encoding="utf-8")

    assert [top(name) for _, name in imported(module, tmp_path)] == ["adapters"]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"p/a.py": "import p.b\n", "p/b.py": "import json\n"}, [], id="one-way"),
        pytest.param({"p/a.py": "import p.b\n", "p/b.py": "import p.a\n"}, [["p.a", "p.b"]], id="import"),
        pytest.param(
            {"p/a.py": "from p.b import x\n", "p/b.py": "from p import c\n", "p/c.py": "from .a import y\n"},
            [["p.a", "p.b", "p.c"]],
            id="from-import-round-three",
        ),
        pytest.param(
            {
                "p/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.b import B\n",
                "p/b.py": "from p.a import A\n",
            },
            [["p.a", "p.b"]],
            id="under-type-checking",
        ),
        pytest.param(
            {"p/a.py": "def f():\n    from p.b import B\n", "p/b.py": "from p.a import A\n"},
            [],
            id="function-local-is-not-module-level",
        ),
        pytest.param(
            {"p/__init__.py": "from p.a import A\n", "p/a.py": "from p import b\n", "p/b.py": "import p\n"},
            [["p", "p.a", "p.b"]],
            id="through-a-package",
        ),
    ],
)
def test_cycle_check_on_sample_trees(tmp_path: Path, files: dict[str, str], expected: list[list[str]]) -> None:
    write_tree(tmp_path, files)

    assert cycles(import_graph(tmp_path)) == expected


def test_length_check_on_a_sample_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, {"p/short.py": "x = 1\n" * 300, "p/long.py": "x = 1\n" * 301})

    assert long_modules(tmp_path) == ["p/long.py: 301 lines"]


def _function(header: str, lines: int, *, docstring: bool = False, indent: str = "") -> str:
    body = f'{indent}    """What it does."""\n' if docstring else ""
    return f"{indent}{header}\n{body}" + f"{indent}    x = 1\n" * lines


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        pytest.param(
            "adapters/http/a.py", _function("async def f(request: Request) -> Response:", 15), [], id="request-at-limit"
        ),
        pytest.param(
            "adapters/http/a.py",
            _function("async def f(request: Request) -> Response:", 16),
            ["adapters/http/a.py::f (16 lines)"],
            id="request-over",
        ),
        pytest.param(
            "adapters/http/a.py",
            _function("async def f(request: Request) -> Response:", 15, docstring=True),
            [],
            id="docstring-excluded",
        ),
        pytest.param(
            "adapters/http/a.py",
            _function("async def f(request: 'starlette.requests.Request') -> Response:", 16),
            ["adapters/http/a.py::f (16 lines)"],
            id="string-annotation",
        ),
        pytest.param(
            "adapters/http/a.py",
            _function("async def f(ws: starlette.websockets.WebSocket) -> None:", 16),
            ["adapters/http/a.py::f (16 lines)"],
            id="websocket",
        ),
        pytest.param(
            "adapters/http/a.py",
            "def make():\n" + _function("async def endpoint(request: Request) -> Response:", 16, indent="    "),
            ["adapters/http/a.py::make.endpoint (16 lines)"],
            id="nested-endpoint",
        ),
        pytest.param("adapters/http/a.py", _function("def helper(rows: list) -> int:", 40), [], id="helper"),
        pytest.param(
            "adapters/cli/main.py",
            "@app.command()\n" + _function("def serve() -> None:", 16),
            ["adapters/cli/main.py::serve (16 lines)"],
            id="typer-command",
        ),
        pytest.param(
            "adapters/cli/main.py",
            '@users.command("add")\n' + _function("def users_add(email: str) -> None:", 16),
            ["adapters/cli/main.py::users_add (16 lines)"],
            id="sub-typer-command",
        ),
        pytest.param(
            "adapters/cli/main.py",
            "@app.command\n" + _function("def replay() -> None:", 16),
            ["adapters/cli/main.py::replay (16 lines)"],
            id="bare-command-decorator",
        ),
        pytest.param(
            "adapters/cli/main.py", "@functools.cache\n" + _function("def settings():", 16), [], id="cli-helper"
        ),
        pytest.param(
            "adapters/ocpp/station.py",
            "class C:\n    @handles(Action.heartbeat)\n"
            + _function("async def on_heartbeat(self):", 16, indent="    "),
            ["adapters/ocpp/station.py::C.on_heartbeat (16 lines)"],
            id="ocpp-handler",
        ),
        pytest.param(
            "adapters/ocpp/station.py",
            "class C:\n" + _function("async def helper(self):", 16, indent="    "),
            [],
            id="ocpp-helper",
        ),
    ],
)
def test_handler_length_check_on_sample_trees(tmp_path: Path, relative: str, source: str, expected: list[str]) -> None:
    write_tree(tmp_path, {relative: source})

    assert long_handlers(tmp_path) == expected
