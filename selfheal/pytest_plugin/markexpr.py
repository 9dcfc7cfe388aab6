"""Could `-m EXPRESSION` select an item carrying given markers? Without pytest's internals.

A mark expression is Python's boolean grammar over marker names (`schema or rls`,
`not (dq and slow)`), so it is parsed with `ast` and evaluated over the names. Anything else
pytest accepts (keyword matching such as `mark(key=1)`, names that are not identifiers) answers
True: the caller then does the work it could have skipped, never skips work that was needed.

`marks_named_in` reads a test module's source (without importing it) for every
`pytest.mark.NAME` it mentions, so `-m dq` need not import the modules of other stages: their
imports (hypothesis, sqlglot, the ETL's HTTP stack) are most of a gate run's start-up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

MAX_MARKS = 12  # beyond this many distinct names a module is simply collected


def selects(markexpr: str, mark: str) -> bool:
    """True when an item whose only marker is `mark` may match `markexpr`."""
    return may_select(markexpr, [mark], only_together=True)


def may_select(markexpr: str, marks: Iterable[str], only_together: bool = False) -> bool:
    """True when an item carrying some of `marks` (and no other marker) may match `markexpr`.

    `only_together`: the item carries all of them, not any subset.
    """
    try:
        tree = ast.parse(markexpr.strip(), mode="eval")
    except SyntaxError:
        return True
    names = sorted(set(marks))
    if len(names) > MAX_MARKS:
        return True
    sizes = [len(names)] if only_together else range(len(names) + 1)
    return any(
        _evaluate(tree.body, frozenset(present))
        for size in sizes
        for present in combinations(names, size)
    )


def marks_named_in(module: Path) -> frozenset[str] | None:
    """Every NAME of `pytest.mark.NAME` in a module's source; None when that cannot be told
    (unreadable, a syntax error, pytest imported under another name, `mark` imported from it,
    or `pytest.mark` used otherwise, e.g. `getattr(pytest.mark, x)`)."""
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    named: set[str] = set()
    for node in ast.walk(tree):
        if _imports_pytest_otherwise(node):
            return None
        if _is_pytest_mark(node):
            parent = parents.get(id(node))
            if not isinstance(parent, ast.Attribute):
                return None
            named.add(parent.attr)
    return frozenset(named)


def _imports_pytest_otherwise(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == "pytest" and a.asname not in (None, "pytest") for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in ("pytest", "_pytest")
    return False


def _is_pytest_mark(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "mark"
        and isinstance(node.value, ast.Name)
        and node.value.id == "pytest"
    )


def _evaluate(node: ast.expr, present: frozenset[str]) -> bool:
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(value, present) for value in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _negate(node.operand, present)
    if isinstance(node, ast.Name):
        return node.id in present
    return True


def _negate(node: ast.expr, present: frozenset[str]) -> bool:
    """`not node`, where an undecidable `node` may be either: the result must stay True."""
    if _decidable(node):
        return not _evaluate(node, present)
    return True


def _decidable(node: ast.expr) -> bool:
    if isinstance(node, ast.BoolOp):
        return all(_decidable(value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _decidable(node.operand)
    return isinstance(node, ast.Name)
