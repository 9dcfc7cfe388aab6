"""`selects` agrees with pytest's own `-m` on every expression it decides, and is never stricter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.pytest_plugin.markexpr import selects

pytest_plugins = ["pytester"]

MARKS = ("schema", "rls", "dq", "preflight")


def expressions() -> st.SearchStrategy[str]:
    names = st.sampled_from(MARKS)
    return st.recursive(
        names,
        lambda inner: st.one_of(
            st.builds("not {}".format, inner),
            st.builds("({} and {})".format, inner, inner),
            st.builds("({} or {})".format, inner, inner),
        ),
        max_leaves=6,
    )


def python_eval(expression: str, mark: str) -> bool:
    """The oracle: Python evaluating the same boolean expression (its names are MARKS only)."""
    matcher = {name: name == mark for name in MARKS}
    return eval(expression, {"__builtins__": {}}, matcher)


@given(expressions(), st.sampled_from(MARKS))
def test_a_boolean_expression_of_markers_is_decided_exactly(expression: str, mark: str) -> None:
    assert selects(expression, mark) == python_eval(expression, mark)


@pytest.mark.parametrize(
    "expression", ["schema(level=1)", "not schema(level=1)", "1 +", "not (rls and x(y=2))"]
)
def test_what_it_cannot_decide_is_selected(expression: str) -> None:
    assert selects(expression, "rls")


def test_it_agrees_with_a_real_pytest_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    schema: s\n    rls: r\n    dq: d\n")
    pytester.makepyfile(
        "import pytest\n"
        + "".join(f"@pytest.mark.{m}\ndef test_{m}(): pass\n" for m in ("schema", "rls", "dq"))
    )
    for expression in ("schema", "not schema", "dq or rls", "not (dq or rls)", "schema and rls"):
        result = pytester.runpytest("-m", expression, "--collect-only", "-q")
        collected = {m for m in ("schema", "rls", "dq") if f"::test_{m}" in result.stdout.str()}
        assert collected == {m for m in ("schema", "rls", "dq") if selects(expression, m)}
