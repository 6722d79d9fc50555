#!/bin/sh
# The browser the console's tests drive: Debian's chromium package (no download by playwright).
# `make test` runs this; it installs only where chromium is missing and apt can install it.
set -eu
CHROMIUM="${SEDO_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser tests (apt-get install chromium)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "The browser tests need Chromium at $CHROMIUM and it is missing." >&2
echo "Install it as root: apt-get update && apt-get install -y chromium" >&2
echo "(or point SEDO_CHROMIUM at a Chromium binary)." >&2
exit 1
