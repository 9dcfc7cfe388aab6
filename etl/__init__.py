"""ETL of the selfheal stack: pull the three sources over HTTP, load idempotently, compute metrics.

`python -m etl {events,source-a,source-b,metrics,all}`; from code, `etl.jobs.run`.
"""
