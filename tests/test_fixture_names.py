"""ape's chain isolation keys what it learns about a fixture by the fixture's *name*, for the whole
session: the scope it first saw under that name, and whether that fixture changed the chain
(compared block heights at set-up and teardown, for non-function scopes). Two fixtures sharing a
name therefore share one record. A module fixture `book` that only started its own Anvil (no
block on ape's chain) was recorded as stateless, and a later class fixture `book` that opened
accounts and turned interest on was then never rolled back: three tests of another module failed
only when the whole suite ran (see docs/testing.md).

So: one scope per fixture name across the suite, and a non-function fixture name defined once;
only the names in CHAIN_FREE (fixtures that never send a transaction themselves, so that every
definition is stateless, as ape records) may be redefined.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Redefined per module on purpose (`act` over conftest's session one); none of them sends a
# transaction itself: each returns an `Actions` helper or wraps the tests in fast error decoding.
CHAIN_FREE = frozenset({"act", "_decode_errors_without_trace_search", "_fast_errors"})


def fixture_definitions(source: str, where: str) -> list[tuple[str, str, str]]:
    """(name, scope, where:line) of every `@pytest.fixture` / `@ape.fixture` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            if not ast.unparse(target).endswith("fixture"):
                continue
            scope = "function"
            for kw in call.keywords if call else []:
                if kw.arg == "scope":
                    scope = str(ast.literal_eval(kw.value))
            found.append((node.name, scope, f"{where}:{node.lineno}"))
    return found


def name_clashes(definitions: list[tuple[str, str, str]]) -> list[str]:
    """Every fixture name ape's name-keyed isolation could confuse, one line each."""
    by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, scope, where in definitions:
        by_name[name].append((scope, where))
    problems = []
    for name, defs in sorted(by_name.items()):
        if name in CHAIN_FREE:
            continue
        scopes = {scope for scope, _ in defs}
        places = ", ".join(f"{where} ({scope})" for scope, where in defs)
        if len(scopes) > 1:
            problems.append(f"{name}: defined at several scopes: {places}")
        elif len(defs) > 1 and scopes != {"function"}:
            problems.append(f"{name}: a {defs[0][0]} fixture defined more than once: {places}")
    return problems


def suite_definitions() -> list[tuple[str, str, str]]:
    return [
        d
        for path in sorted(TESTS.rglob("*.py"))
        for d in fixture_definitions(path.read_text(), path.relative_to(TESTS).as_posix())
    ]


def test_suite__every_fixture_name_means_one_fixture():
    assert len(suite_definitions()) > 50  # the walk found the suite's fixtures
    assert name_clashes(suite_definitions()) == []


def test_name_clashes__the_case_that_broke_isolation__is_reported():
    module = "import pytest\n@pytest.fixture(scope='module')\ndef book(tmp_path_factory):\n    ..."
    klass = (
        "import pytest\nclass TestX:\n    @pytest.fixture(scope='class')\n"
        "    def book(self, act):\n        ...\n"
    )
    defs = fixture_definitions(module, "a.py") + fixture_definitions(klass, "b.py")
    assert name_clashes(defs) == [
        "book: defined at several scopes: a.py:3 (module), b.py:4 (class)"
    ]


def test_name_clashes__same_module_scope_twice__reported_unless_chain_free():
    src = "import pytest\n@pytest.fixture(scope='module', autouse=True)\ndef {}():\n    ...\n"
    defs = [d for f in ("a.py", "b.py") for d in fixture_definitions(src.format("market"), f)]
    assert name_clashes(defs) == [
        "market: a module fixture defined more than once: a.py:3 (module), b.py:3 (module)"
    ]
    act = [d for f in ("a.py", "b.py") for d in fixture_definitions(src.format("act"), f)]
    assert name_clashes(act) == []
    function_twice = "import pytest\n@pytest.fixture\ndef flash():\n    ...\n"
    defs = [d for f in ("a.py", "b.py") for d in fixture_definitions(function_twice, f)]
    assert name_clashes(defs) == []
