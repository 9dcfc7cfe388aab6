#!/usr/bin/env bash
# Install Debian/Ubuntu packages as root, or through passwordless sudo.
# Exit 3 (installing nothing) when this user has neither: the caller decides what that means.
# PRECONFIGURE, when set, is a shell command run with the same privileges first.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  exit 3
fi
if [ -n "${PRECONFIGURE:-}" ]; then
  $SUDO sh -c "$PRECONFIGURE"
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
