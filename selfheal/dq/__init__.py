"""Data-quality gates: rules declared per table in TOML plus custom SQL, one scan per table.

The flow, one module per step:
  config   TOML files and custom SQL files -> a `Suite` of rules, statically validated
  rules    the rule kinds: what each one measures, which rows offend, how counts become a verdict
  catalog  the live catalog: do the tables and columns exist, which rules a constraint proves
  compiler the aggregates of all a table's rules -> one SELECT (FILTER aggregates)
  sampling up to five offending rows of a failing rule
  runner   runs each table's SELECT once per session, shared by that table's checks
  report   a check's result as the failure text and as HTML for the report
"""
