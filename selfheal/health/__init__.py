"""The six-part system health audit: feedback loops, second-order effects, socio-technical
alignment, constraint propagation, entropy and robustness, multi-agent coherence.

Each part is a module of checks; a check reads the target through one read-only session and
returns what it examined and its findings, each with a level and a remediation. The thresholds,
the declared lineage, owners and references come from `checks/health.toml` (config.py).
"""
