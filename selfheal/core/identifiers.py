"""PostgreSQL identifiers as text, quoted exactly as the server's `quote_ident` quotes them.

A name stays bare when it is lower-case letters, digits and underscores, starts with a letter or
an underscore, and is not a keyword the grammar reserves (any category but "unreserved");
anything else is double-quoted, with inner double quotes doubled. The keywords are those of
PostgreSQL 15 (`pg_get_keywords()`); tests/problems checks them against the running server.
"""

from __future__ import annotations

import re

_SAFE = re.compile(r"[a-z_][a-z0-9_]*")

# SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'  (PostgreSQL 15)
RESERVED_KEYWORDS = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    ]
)


def quote_ident(name: str) -> str:
    """`name` as `SELECT quote_ident(name)` returns it."""
    if _SAFE.fullmatch(name) and name not in RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """A schema-qualified name, each part quoted: `public."Order"."select"`."""
    return ".".join(quote_ident(part) for part in parts)


class IdentifierSyntaxError(ValueError):
    """Text that `qualified` cannot have written."""


def split_qualified(text: str) -> list[str]:
    """The parts of a name `qualified` wrote, unquoted: `public."a.b"` -> [public, a.b]."""
    parts, rest = [], text
    while True:
        if rest.startswith('"'):
            part, rest = _quoted(rest, text)
        else:
            part, dot, tail = rest.partition(".")
            rest = dot + tail
            if not _SAFE.fullmatch(part) or part in RESERVED_KEYWORDS:
                raise IdentifierSyntaxError(f"{text!r}: {part!r} would be quoted")
        parts.append(part)
        if not rest:
            return parts
        if not rest.startswith(".") or len(rest) == 1:
            raise IdentifierSyntaxError(f"{text!r}: expected '.' between names")
        rest = rest[1:]


def _quoted(rest: str, text: str) -> tuple[str, str]:
    """The quoted name at the start of `rest` (unquoted), and what follows it."""
    index, chars = 1, []
    while index < len(rest):
        if rest[index] == '"' and rest[index + 1 : index + 2] == '"':
            chars.append('"')
            index += 2
        elif rest[index] == '"':
            return "".join(chars), rest[index + 1 :]
        else:
            chars.append(rest[index])
            index += 1
    raise IdentifierSyntaxError(f"{text!r}: unterminated quoted name")
