#!/usr/bin/env bash
# apt_install.sh PACKAGE CHECK WHAT: install Debian's PACKAGE when the shell test CHECK fails (a fresh machine,
# CI), then check again. Quiet when CHECK already passes; exits non-zero, saying why and naming WHAT needs
# the package, when it cannot be installed. graphviz.sh and chromium.sh call it.
set -euo pipefail

package=$1 check=$2 what=$3

if eval "$check" >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$package is not installed and this machine has no apt-get; install Debian's $package package ($what needs it)." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$package is not installed; run 'sudo apt-get install $package' (installing needs root; $what needs it)." >&2
  exit 1
fi

echo "Installing $package for $what"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq "$package"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "Could not install $package with apt-get (see above); $what needs it." >&2
  exit 1
fi
if ! eval "$check" >/dev/null 2>&1; then
  echo "apt-get installed $package but the check '$check' still fails." >&2
  exit 1
fi
