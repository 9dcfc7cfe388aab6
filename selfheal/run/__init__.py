"""The run layer: the records a run produces (problems, heals) and what it writes from them."""
