"""The doctor: plans one remedy per problem code, and with `--heal` applies and proves it."""

from selfheal.doctor.doctor import Doctor, render_plan
from selfheal.doctor.remedies import REGISTRY, REMEDIES, Context

__all__ = ["REGISTRY", "REMEDIES", "Context", "Doctor", "render_plan"]
