#!/usr/bin/env bash
# Install PostgreSQL server binaries when no pg_ctl can be found (Debian/Ubuntu).
# The embedded default starts its own throwaway servers, so Debian is told not to create and
# start a cluster of its own. As a normal user this needs passwordless sudo.
set -euo pipefail

if command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  exit 0
fi

echo "Installing PostgreSQL server binaries..."
conf=/etc/postgresql-common/createcluster.d/selfheal.conf
if ! PRECONFIGURE="mkdir -p ${conf%/*} && echo 'create_main_cluster = false' > $conf" \
     bash "$(dirname "$0")/apt-install.sh" postgresql postgresql-contrib; then
  echo "PostgreSQL server binaries (pg_ctl) are missing and this user cannot install them." >&2
  echo "Install them with: sudo apt-get install postgresql postgresql-contrib" >&2
  exit 1
fi
