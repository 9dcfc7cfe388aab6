-- Each problem's advised fix, so a ticket regenerated from the history keeps it.

ALTER TABLE selfheal_history.problem_results
    ADD COLUMN IF NOT EXISTS remediation text NOT NULL DEFAULT '';
