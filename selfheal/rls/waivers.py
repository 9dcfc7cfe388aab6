"""Waivers: a reviewed lint finding, keyed by lint name and object label, with a reason.

    [[waiver]]
    lint = "unindexed_foreign_keys"
    object = "public.etl_quarantine.etl_quarantine_run_id_fkey"
    reason = "the quarantine is append-only and never joined"

A waived finding still shows (as waived, with its reason); a waiver that matches nothing is
reported as stale so the list does not rot.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from selfheal.rls.lints import LINTS, LintFinding


class WaiverError(ValueError):
    """The waiver file is unusable; the message names the file and the entry."""


@dataclass(frozen=True)
class Waiver:
    lint: str
    object: str
    reason: str


def load_waivers(path: Path) -> list[Waiver]:
    """The waivers of `path`; none when the file does not exist."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise WaiverError(f"{path}: not valid TOML ({error})") from None
    waivers = []
    for number, entry in enumerate(data.get("waiver", []), start=1):
        missing = [k for k in ("lint", "object", "reason") if not str(entry.get(k, "")).strip()]
        if missing:
            raise WaiverError(f"{path}: waiver #{number} lacks {', '.join(missing)}")
        if entry["lint"] not in LINTS:
            raise WaiverError(
                f"{path}: waiver #{number} names unknown lint {entry['lint']!r}; "
                f"known: {', '.join(LINTS)}"
            )
        waivers.append(Waiver(entry["lint"], entry["object"], entry["reason"]))
    return waivers


def apply_waivers(
    findings: list[LintFinding], waivers: list[Waiver]
) -> tuple[list[LintFinding], list[Waiver]]:
    """Findings with `waived_because` set where a waiver matches, and the unused waivers."""
    by_key = {(w.lint, w.object): w for w in waivers}
    used: set[tuple[str, str]] = set()
    result = []
    for finding in findings:
        waiver = by_key.get((finding.lint, finding.label))
        if waiver:
            used.add((waiver.lint, waiver.object))
            finding = replace(finding, waived_because=waiver.reason)
        result.append(finding)
    return result, [w for w in waivers if (w.lint, w.object) not in used]
