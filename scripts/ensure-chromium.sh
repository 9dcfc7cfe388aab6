#!/usr/bin/env bash
# Install Debian's Chromium when it is missing: the report browser tests render the HTML report
# in it headless. As a normal user this needs passwordless sudo; otherwise it says what to install.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "chromium is missing and this user cannot install it; the browser tests will be skipped." >&2
  echo "Install it with: sudo apt-get install chromium" >&2
  exit 0
fi

echo "Installing Chromium (headless report tests)..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
