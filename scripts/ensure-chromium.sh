#!/usr/bin/env bash
# Install Debian's Chromium when it is missing: the report browser tests render the HTML report
# in it headless. As a normal user this needs passwordless sudo; otherwise it says what to install.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

echo "Installing Chromium (headless report tests)..."
if ! bash "$(dirname "$0")/apt-install.sh" chromium; then
  echo "chromium is missing and this user cannot install it; the browser tests will be skipped." >&2
  echo "Install it with: sudo apt-get install chromium" >&2
fi
