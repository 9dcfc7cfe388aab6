#!/usr/bin/env bash
# Install Debian's PgBouncer when it is missing: the pooler tests start one in transaction mode on
# loopback, in front of their embedded server (Debian's service is never started or enabled).
# As a normal user this needs passwordless sudo; otherwise it says what to install.
set -euo pipefail

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi

echo "Installing PgBouncer (pooler tests)..."
if ! bash "$(dirname "$0")/apt-install.sh" pgbouncer; then
  echo "pgbouncer is missing and this user cannot install it; the pooler tests will be skipped." >&2
  echo "Install it with: sudo apt-get install pgbouncer" >&2
fi
