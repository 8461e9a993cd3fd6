#!/bin/sh
# Runs a built bundle's self-test as a bare terminal would: copied away from the checkout and run
# with an empty environment (no virtualenv, no PYTHONPATH, no HOME of the builder), Qt offscreen.
# Usage: scripts/bundle-selftest.sh [BUNDLE_DIR] [-- extra kiosk arguments, e.g. --clip FILE]
# Exit status: the self-test's (0 all passed, 1 a check failed, 3 some skipped).
set -eu
bundle=${1:-dist/kiosk}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
[ -x "$bundle/kiosk" ] || { echo "bundle-selftest: no executable $bundle/kiosk (run make bundle)" >&2; exit 2; }
work=$(mktemp -d /tmp/kiosk-bundle-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP PIPE  # so that EXIT runs on a signal too (dash skips it otherwise)
cp -a "$bundle" "$work/kiosk"
mkdir -p "$work/home" "$work/data"
# As root, also hide the checkout's virtualenv behind an empty tmpfs in a private mount namespace
# (nobody else sees it): a bundle that still loaded anything from it would fail here.
venv=$(cd "$(dirname "$0")/.." && pwd)/.venv
hide=""
if [ "$(id -u)" = 0 ] && [ -d "$venv" ] && command -v unshare >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
    hide=$venv
    echo "bundle-selftest: $venv hidden for this run"
fi
start=$(date +%s.%N)
status=0
set -- env -i HOME="$work/home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    KIOSK_DATA_DIR="$work/data" "$work/kiosk/kiosk" --self-test "$@"
if [ -n "$hide" ]; then
    unshare -m sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$hide" "$@" || status=$?
else
    "$@" || status=$?
fi
end=$(date +%s.%N)
echo "bundle-selftest: $(du -sh "$bundle" | cut -f1) bundle, self-test exit $status in $(awk "BEGIN { printf \"%.1f\", $end - $start }") s (wall clock, incl. start-up)"
exit $status
