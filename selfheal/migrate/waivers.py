"""Waivers: a reviewed exception written in the migration as a comment line of its own.

    -- selfheal:allow-destructive <kind> <object>: <reason>

Only a real comment counts: the same text inside a string literal, a dollar-quoted function
body or a block comment is ignored. A waiver names one kind and one object; an object dropped
by CASCADE needs its own waiver. The waiver of a DELETE, TRUNCATE or DROP (or of the data-loss
it causes) also allows the same removal when the file runs a second time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from selfheal.migrate.findings import WAIVER_PREFIX, Finding
from selfheal.migrate.statements import comment_lines

_WAIVER = re.compile(
    r"^\s*"
    + re.escape(WAIVER_PREFIX)
    + r"\s+(?P<kind>[a-z-]+)\s+(?P<object>.+?):\s*(?P<reason>\S.*)$"
)
UNWAIVABLE = {"error", "not-atomic"}


@dataclass(frozen=True)
class Waiver:
    kind: str
    object: str
    reason: str
    line: int


def read_waivers(sql_text: str) -> list[Waiver]:
    waivers = []
    for line, text in comment_lines(sql_text):
        match = _WAIVER.match(text)
        if match:
            waivers.append(
                Waiver(match["kind"], match["object"].strip(), match["reason"].strip(), line)
            )
    return waivers


def _names(object_name: str) -> set[str]:
    """The finding's object as written, and without its leading kind word ("table ")."""
    bare = object_name.split(" ", 1)[1] if " " in object_name else object_name
    return {object_name, bare}


def apply_waivers(sql_text: str, findings: Iterable[Finding]) -> list[Finding]:
    waivers = read_waivers(sql_text)
    result = []
    for finding in findings:
        reason = next(
            (
                w.reason
                for w in waivers
                if w.kind in (finding.kind, *finding.covered_by)
                and finding.kind not in UNWAIVABLE
                and w.object in _names(finding.object)
            ),
            None,
        )
        result.append(finding.waived(reason) if reason else finding)
    return result
