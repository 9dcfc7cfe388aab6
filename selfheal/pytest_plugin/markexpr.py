"""Would `-m EXPRESSION` select an item carrying one given marker? Without pytest's internals.

A mark expression is Python's boolean grammar over marker names (`schema or rls`,
`not (dq and slow)`), so it is parsed with `ast` and evaluated over the names. Anything else
pytest accepts (keyword matching such as `mark(key=1)`, names that are not identifiers) answers
True: the caller then does the work it could have skipped, never skips work that was needed.
"""

from __future__ import annotations

import ast


def selects(markexpr: str, mark: str) -> bool:
    """True when an item whose only marker is `mark` may match `markexpr`."""
    try:
        tree = ast.parse(markexpr.strip(), mode="eval")
    except SyntaxError:
        return True
    return _evaluate(tree.body, mark)


def _evaluate(node: ast.expr, mark: str) -> bool:
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(value, mark) for value in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _negate(node.operand, mark)
    if isinstance(node, ast.Name):
        return node.id == mark
    return True


def _negate(node: ast.expr, mark: str) -> bool:
    """`not node`, where an undecidable `node` may be either: the result must stay True."""
    if _decidable(node):
        return not _evaluate(node, mark)
    return True


def _decidable(node: ast.expr) -> bool:
    if isinstance(node, ast.BoolOp):
        return all(_decidable(value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _decidable(node.operand)
    return isinstance(node, ast.Name)
