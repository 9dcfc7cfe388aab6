"""The expected schema (migrations applied to a scratch database) and its diff with the live one."""

from selfheal.schema.diff import Difference, Drift, Missing, SchemaDiff, diff
from selfheal.schema.expected import expected_snapshot

__all__ = ["Difference", "Drift", "Missing", "SchemaDiff", "diff", "expected_snapshot"]
