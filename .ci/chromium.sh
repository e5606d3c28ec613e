#!/usr/bin/env bash
# Install Chromium (Debian's chromium package: the browser the end-to-end tests and `make screenshots` drive
# through Playwright, headless, at /usr/bin/chromium) when it is missing.
exec bash "$(dirname "$0")/apt_install.sh" chromium "test -x /usr/bin/chromium" "the end-to-end browser tests"
