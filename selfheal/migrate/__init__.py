"""Migrations: the files, the runner with its ledger, the destructive-DDL guard, the delta."""
