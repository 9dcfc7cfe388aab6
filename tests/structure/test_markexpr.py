"""`selects` agrees with pytest's own `-m` on every expression it decides, and is never stricter;
a module is left uncollected only when none of its items could be selected."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.pytest_plugin.markexpr import marks_named_in, may_select, selects

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


def python_eval(expression: str, mark: str | frozenset[str]) -> bool:
    """The oracle: Python evaluating the same boolean expression (its names are MARKS only)."""
    present = {mark} if isinstance(mark, str) else mark
    matcher = {name: name in present for name in MARKS}
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


@given(expressions(), st.sets(st.sampled_from(MARKS)))
def test_a_module_is_skipped_only_when_no_item_of_it_could_match(expression, module_marks):
    """Items of a module carry any subset of the marks the module names."""
    names = sorted(module_marks)
    any_item_matches = any(
        python_eval(expression, frozenset(subset))
        for size in range(len(names) + 1)
        for subset in combinations(names, size)
    )
    assert may_select(expression, module_marks) == any_item_matches


def test_the_marks_a_module_names_are_read_without_importing_it(tmp_path):
    module = tmp_path / "test_x.py"
    module.write_text(
        "import pytest\nimport no_such_module\n"
        "pytestmark = [pytest.mark.schema]\n"
        "@pytest.mark.parametrize('v', [pytest.param(1, marks=pytest.mark.slow)])\n"
        "def test_a(v): pass\n"
    )
    assert marks_named_in(module) == {"schema", "parametrize", "slow"}


@pytest.mark.parametrize(
    "source",
    [
        "import pytest as pt\n@pt.mark.dq\ndef test_a(): pass\n",
        "from pytest import mark\n@mark.dq\ndef test_a(): pass\n",
        "import pytest\nstage = getattr(pytest.mark, 'dq')\n",
        "import pytest\nm = pytest.mark\n",
        "def test_a(:\n",
    ],
)
def test_marks_that_cannot_be_read_keep_the_module_collected(tmp_path, source):
    module = tmp_path / "test_x.py"
    module.write_text(source)
    assert marks_named_in(module) is None
