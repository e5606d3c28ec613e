#!/usr/bin/env bash
# Install Graphviz (Debian's graphviz package: the `dot` layout program the ER and lineage diagrams need)
# when `dot` is missing (a fresh machine, CI). Quiet when it is already there; exits non-zero, saying why,
# when it cannot be installed.
set -euo pipefail

if command -v dot >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Graphviz's dot is not installed and this machine has no apt-get; install the graphviz package." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Graphviz's dot is not installed; run 'sudo apt-get install graphviz' (installing needs root)." >&2
  exit 1
fi

echo "Installing Graphviz (dot) for the ER and lineage diagrams"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq graphviz; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "Could not install Graphviz with apt-get (see above); the diagrams need its dot program." >&2
  exit 1
fi
if ! command -v dot >/dev/null 2>&1; then
  echo "apt-get installed graphviz but dot is still not on PATH ($PATH)." >&2
  exit 1
fi
