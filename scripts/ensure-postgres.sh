#!/usr/bin/env bash
# Install PostgreSQL server binaries when no pg_ctl can be found (Debian/Ubuntu).
# The embedded default starts its own throwaway servers, so the package's own cluster is not
# created. As a normal user this needs passwordless sudo; otherwise it says what to install.
set -euo pipefail

if command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "PostgreSQL server binaries (pg_ctl) are missing and this user cannot install them." >&2
  echo "Install them with: sudo apt-get install postgresql postgresql-contrib" >&2
  exit 1
fi

echo "Installing PostgreSQL server binaries..."
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/selfheal.conf >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
