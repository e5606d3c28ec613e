#!/usr/bin/env bash
# Install Chromium (Debian's chromium package: the browser the end-to-end tests and `make screenshots` drive
# through Playwright, headless, at /usr/bin/chromium) when it is missing (a fresh machine, CI). Quiet when it
# is already there; exits non-zero, saying why, when it cannot be installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is not installed at $CHROMIUM and this machine has no apt-get; install Debian's chromium package." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is not installed at $CHROMIUM; run 'sudo apt-get install chromium' (installing needs root)." >&2
  exit 1
fi

echo "Installing Chromium for the end-to-end browser tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "Could not install Chromium with apt-get (see above); the browser tests need $CHROMIUM." >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "apt-get installed chromium but $CHROMIUM is still missing." >&2
  exit 1
fi
