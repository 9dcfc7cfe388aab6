"""selfheal's pytest plugins (the top layer, beside the CLI): the health report for now."""
