"""Row-level security: static lints with waivers, and behaviour probes by impersonation."""
