"""`python -m etl`: the ETL command line, handed the migration runner for the embedded default.

The same command is `selfheal etl`; this entry point is where the ETL (which depends only on
selfheal.core) is wired to the migration engine, as the `selfheal` CLI does.
"""

import sys

from etl.cli import main
from selfheal.migrate.runner import prepare_database

sys.exit(main(prepare=prepare_database))
