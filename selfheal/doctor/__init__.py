"""The doctor: plans one remedy per kind of failure, and with `--heal` applies and proves it."""

from selfheal.doctor.doctor import Doctor, HealResult, render_plan
from selfheal.doctor.remedies import REMEDIES, Context

__all__ = ["REMEDIES", "Context", "Doctor", "HealResult", "render_plan"]
