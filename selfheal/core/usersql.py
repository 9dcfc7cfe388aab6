"""SQL written in rule files, vetted before it runs: `where` fragments and custom checks.

A `where` must be one boolean expression; a custom check one query: a SELECT, WITH ... SELECT, or
a UNION / INTERSECT / EXCEPT of them. The text is parsed with sqlglot (PostgreSQL dialect), and
what runs is not the text but the SQL rendered from the parsed tree, without its comments: what
was vetted is what runs, whatever the text hid in comments, dollar quotes or escapes.

Refused anywhere in the tree, each with a message naming what and why:
- any statement but a query: INSERT, UPDATE, DELETE, MERGE, DDL, COPY, transaction control,
  SET, DO, CALL, and anything sqlglot can keep only as a raw command; a data-modifying CTE;
- SELECT ... INTO (it creates a table) and locking clauses (FOR UPDATE / SHARE);
- a relation outside the checked schemas (the schemas of the suite's tables): `auth.users`,
  `information_schema.*`, and an unqualified `pg_*` name, which resolves to the system catalog;
- a function on the deny-list (side effects, sleeping, files, other connections, locks,
  sequences, settings, other backends, whole-schema readers), or qualified with a schema
  other than pg_catalog or a checked one.
At run time `FunctionPolicy` (loaded from pg_proc) also refuses any function that is not stable
or immutable there: only functions that cannot change the database are called.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from selfheal.core.readonly import Reader

SYSTEM_SCHEMA = "pg_catalog"

# Functions refused whatever pg_proc says (several are STABLE yet read or do too much).
DENIED_FUNCTIONS = (
    "pg_sleep*",  # holds the session
    "set_config",  # changes settings, the role included
    "nextval",
    "setval",  # sequences
    "txid_current",
    "pg_current_xact_id",  # assign a transaction id
    "pg_advisory*",
    "pg_try_advisory*",  # locks
    "pg_notify",
    "dblink*",  # another connection, outside this transaction
    "lo_*",
    "pg_read_*",
    "pg_ls_*",
    "pg_stat_file",  # large objects, server files
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_stat_reset*",
    "*_to_xml*",
    "query_to_*",
    "ts_stat",  # run a query given as text, or read whole schemas
    "pg_stat_get_activity",
    "pg_stat_get_backend*",  # other sessions' queries
    "current_setting",  # settings may carry connection details
)

_FORBIDDEN = tuple(
    node
    for name in (
        "DML",
        "DDL",
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Copy",
        "Create",
        "Drop",
        "Alter",
        "TruncateTable",
        "Command",
        "Transaction",
        "Commit",
        "Rollback",
        "Set",
        "SetItem",
        "Use",
        "Grant",
        "Revoke",
        "Pragma",
        "Describe",
        "Analyze",
        "Kill",
        "Execute",
        "Declare",
        "LoadData",
        "Cache",
        "Uncache",
        "Refresh",
        "Comment",
        "Into",
        "Lock",
    )  # fmt: skip
    if isinstance(node := getattr(exp, name, None), type)
)
_WHAT = {
    "Into": "SELECT ... INTO creates a table",
    "Lock": "a locking clause (FOR UPDATE / FOR SHARE) takes row locks",
    "Command": "a statement that is not a query",
    "Block": "more than one statement",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")
_UNICODE_IDENTIFIER = re.compile(r'u&"', re.IGNORECASE)  # sqlglot does not decode them


class UnsafeSql(ValueError):
    """Text from a rule file that may not run; the message says what and why, for people."""


def _parse_error(error: ParseError | TokenError) -> UnsafeSql:
    details = getattr(error, "errors", None) or []
    if details:
        first = details[0]
        where = f" at line {first.get('line')}, column {first.get('col')}"
        return UnsafeSql(f"cannot be parsed as PostgreSQL{where}: {first.get('description')}")
    return UnsafeSql(f"cannot be parsed as PostgreSQL: {str(error).splitlines()[0]}")


def _refuse_statements(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            kind = type(node).__name__
            what = _WHAT.get(kind, f"{kind.upper()} is not a read")
            raise UnsafeSql(f"only reads may run: {what}")


def _refuse_relations(tree: exp.Expression, schemas: frozenset[str]) -> None:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a function in FROM: vetted as a function
        name = table.name
        if table.catalog:
            raise UnsafeSql(f"{table.sql('postgres')} names another database")
        if table.db and table.db not in schemas:
            raise UnsafeSql(
                f"reads {table.db}.{name}, outside the checked schemas ({', '.join(sorted(schemas))})"
            )
        if not table.db and name not in ctes and name.startswith("pg_"):
            raise UnsafeSql(f"reads {name}, which resolves to the system catalog")


def _word(token: Token) -> str | None:
    """The name a token spells, as PostgreSQL folds it; None for punctuation and literals."""
    if token.token_type == TokenType.IDENTIFIER:
        return token.text
    if token.token_type in (TokenType.STRING, TokenType.NUMBER) or not _NAME.match(token.text):
        return None
    return token.text.lower()


def functions_called(text: str) -> set[tuple[str | None, str]]:
    """(schema or None, name) of every `name(` in the text, as PostgreSQL will resolve it."""
    tokens = Postgres().tokenize(text)
    found = set()
    for index, token in enumerate(tokens[:-1]):
        name = _word(token)
        if name is None or tokens[index + 1].token_type != TokenType.L_PAREN:
            continue
        qualified = index >= 2 and tokens[index - 1].token_type == TokenType.DOT
        found.add((_word(tokens[index - 2]) if qualified else None, name))
    return found


def denied(name: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in DENIED_FUNCTIONS)


def _refuse_functions(text: str, schemas: frozenset[str]) -> None:
    for schema, name in sorted(functions_called(text), key=str):
        if denied(name):
            raise UnsafeSql(f"calls {name}(), which is on the deny-list of functions checks call")
        if schema is not None and schema not in schemas | {SYSTEM_SCHEMA}:
            raise UnsafeSql(f"calls {schema}.{name}(), outside pg_catalog and the checked schemas")


def _refuse_separators(text: str) -> None:
    if any(token.token_type == TokenType.SEMICOLON for token in Postgres().tokenize(text)):
        raise UnsafeSql("holds more than one statement (a `;` outside quotes)")


def _rendered(tree: exp.Expression, schemas: frozenset[str]) -> str:
    _refuse_statements(tree)
    _refuse_relations(tree, schemas)
    text = tree.sql(dialect="postgres", comments=False)
    _refuse_separators(text)
    _refuse_functions(text, schemas)
    return text


def _refuse_unparsable(text: str) -> None:
    if _UNICODE_IDENTIFIER.search(text):
        raise UnsafeSql('uses a Unicode-escaped identifier (U&"..."): write the name itself')


def vet_condition(text: str, schemas: Iterable[str]) -> str:
    """The `where` fragment rendered from its parsed tree; UnsafeSql if it may not run."""
    _refuse_unparsable(text)
    try:
        tree = sqlglot.parse_one(text, read="postgres", into=exp.Condition)
    except (ParseError, TokenError) as error:
        raise UnsafeSql(
            f"is not one boolean expression: {_parse_error(error)}"
            " (a where is a condition such as `status = 'active'`, never a statement)"
        ) from None
    if isinstance(tree, exp.Query):
        raise UnsafeSql("is a query, not a condition (write `x IN (SELECT ...)`)")
    return _rendered(tree, frozenset(schemas))


def vet_query(text: str, schemas: Iterable[str]) -> str:
    """The custom check's query rendered from its parsed tree; UnsafeSql if it may not run."""
    _refuse_unparsable(text)
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if s is not None]
    except (ParseError, TokenError) as error:
        raise _parse_error(error) from None
    if len(statements) != 1:
        raise UnsafeSql(f"holds {len(statements)} statements; a custom check is one query")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery):
        word = tree.sql(dialect="postgres").split(None, 1)[0].upper()
        raise UnsafeSql(
            f"starts with {word}, not SELECT: a custom check is one SELECT (or WITH ... SELECT)"
        )
    return _rendered(tree, frozenset(schemas))


_VOLATILITY = """
SELECT n.nspname, p.proname, bool_and(p.provolatile IN ('s', 'i'))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%s)
GROUP BY 1, 2
"""


@dataclass(frozen=True)
class FunctionPolicy:
    """Which functions vetted SQL may call on this database: stable or immutable ones only."""

    schemas: frozenset[str]  # the checked schemas (pg_catalog is always searched)
    readonly: dict[tuple[str, str], bool]  # (schema, name) -> every overload stable/immutable

    @classmethod
    def load(cls, reader: Reader, schemas: Iterable[str]) -> FunctionPolicy:
        checked = frozenset(schemas)
        rows = reader.rows(_VOLATILITY, ([SYSTEM_SCHEMA, *sorted(checked)],))
        return cls(checked, {(schema, name): safe for schema, name, safe in rows})

    def refusal(self, text: str) -> str | None:
        """Why the vetted text may not run here (a volatile function), or None."""
        for schema, name in sorted(functions_called(text), key=str):
            searched = [schema] if schema else [SYSTEM_SCHEMA, *sorted(self.schemas)]
            verdicts = [self.readonly[(s, name)] for s in searched if (s, name) in self.readonly]
            if verdicts and not all(verdicts):
                return (
                    f"calls {name}(), which is VOLATILE in pg_proc: checks call only stable or "
                    "immutable functions, which cannot change the database"
                )
        return None
