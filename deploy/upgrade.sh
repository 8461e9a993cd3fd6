#!/bin/sh
# Installs a kiosk bundle as a new release and switches to it; the data folder is kept.
#
# Usage: deploy/upgrade.sh [--skip-self-test] BUNDLE [VERSION]
#   BUNDLE   a built bundle folder (dist/kiosk) or a .tar.gz holding one kiosk/ folder
#   VERSION  release name (default: the bundle's `kiosk --version` and the UTC time)
# The first installation is the same command (there is simply no release to come from).
#
# Steps, each of which stops the upgrade without touching the running kiosk when it fails:
#  1. copy the bundle to releases/<version> (under a temporary name, renamed when complete);
#  2. run its self-test with an empty environment and a scratch data folder;
#  3. refuse when the database was written by a newer kiosk than the bundle;
# then, with the service stopped:
#  4. back the database up (SQLite online backup) to <data>/backups/, run the migrations;
#     a failed migration restores the backup and restarts the old release;
#  5. install the rendered voice clips, point `current` at the release (`previous` at the old one);
#  6. start the service and wait for READY=1; if it does not come, roll back (deploy/rollback.sh).
# Environment: see deploy/lib.sh (KIOSK_ROOT, KIOSK_DATA_DIR, KIOSK_CONFIG, KIOSK_SERVICE, ...).
# Exit status: 0 switched, 1 not switched (or rolled back), 2 usage.
set -eu
PROG=kiosk-upgrade
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

self_test=1
if [ "${1:-}" = "--skip-self-test" ]; then self_test=0; shift; fi
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 [--skip-self-test] BUNDLE [VERSION]" >&2; exit 2; }
bundle=$1
lock

staging=$(mktemp -d "$RELEASES/.incoming.XXXXXX")
cleanup_staging() { rm -rf "$staging"; }
case "$bundle" in
    *.tar.gz|*.tgz)
        tar -xzf "$bundle" -C "$staging" || { cleanup_staging; die "cannot unpack $bundle"; }
        [ -x "$staging/kiosk/kiosk" ] || { cleanup_staging; die "$bundle holds no kiosk/kiosk"; }
        mv "$staging/kiosk" "$staging/bundle" ;;
    *)
        [ -x "$bundle/kiosk" ] || { cleanup_staging; die "$bundle is not a bundle folder (no executable kiosk in it)"; }
        cp -a "$bundle" "$staging/bundle" ;;
esac

version=${2:-}
if [ -z "$version" ]; then
    built=$("$staging/bundle/kiosk" --version 2>/dev/null | sed -n 's/.*version //p' | head -n 1)
    [ -n "$built" ] || { cleanup_staging; die "the bundle does not report a version; give one"; }
    version="$built-$(date -u +%Y%m%dT%H%M%SZ)"
fi
case "$version" in
    */*|.*|"") cleanup_staging; die "bad release name '$version'" ;;
esac
[ -e "$RELEASES/$version" ] && { cleanup_staging; die "release $version exists already"; }
mv "$staging/bundle" "$RELEASES/$version"
cleanup_staging
say "staged release $version"

abandon() { rm -rf "${RELEASES:?}/$version"; die "$1; release $version removed, nothing else changed"; }

if [ "$self_test" = 1 ]; then
    scratch=$(mktemp -d /tmp/kiosk-upgrade-selftest.XXXXXX)
    set --
    [ -f "$KIOSK_CONFIG" ] && set -- --config "$KIOSK_CONFIG"
    if env -i PATH=/usr/bin:/bin HOME="$scratch" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
            KIOSK_DATA_DIR="$scratch/data" "$RELEASES/$version/kiosk" "$@" --self-test >"$scratch/out" 2>&1; then
        say "self-test passed: $(tail -n 1 "$scratch/out")"
        rm -rf "$scratch"
    else
        cat "$scratch/out" >&2
        rm -rf "$scratch"
        abandon "the self-test of the new release failed"
    fi
fi

status=$(kiosk_as_user "$version" db status --json) || abandon "the new release cannot read the database status"
case "$status" in
    *'"unknown": []'*) ;;
    *) abandon "the database was written by a newer kiosk than $version ($status)" ;;
esac
schema_before=$(printf '%s' "$status" | sed -n 's/.*"schema": \([0-9]*\).*/\1/p')
exists=$(printf '%s' "$status" | sed -n 's/.*"exists": \([a-z]*\).*/\1/p')

from=$(release_of current)
stop_service
backup=""
if [ "$exists" = true ]; then
    backup="$KIOSK_DATA_DIR/backups/kiosk-$(date -u +%Y%m%dT%H%M%SZ)-before-$version.db"
    kiosk_as_user "$version" db backup "$backup" >/dev/null || { start_service || true; abandon "the database backup failed"; }
    say "database backed up to $backup"
fi
if ! kiosk_as_user "$version" db migrate >/dev/null; then
    [ -n "$backup" ] && kiosk_as_user "$version" db restore "$backup" >/dev/null || true
    start_service || true
    abandon "the migrations failed (database restored from $backup)"
fi
schema_after=$(kiosk_as_user "$version" db status --json | sed -n 's/.*"schema": \([0-9]*\).*/\1/p')

cat >"$RELEASES/$version/UPGRADE_INFO" <<EOF
from=$from
backup=$backup
schema_before=${schema_before:-0}
schema_after=${schema_after:-0}
installed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
install_voice "$version"
point current "$version"
[ -n "$from" ] && point previous "$from"
say "switched current from ${from:-nothing} to $version (schema ${schema_before:-0} -> ${schema_after:-0})"

if ! start_service; then
    say "the service did not report ready within ${KIOSK_START_TIMEOUT_S} s"
    if [ -n "$from" ]; then
        rmdir "$KIOSK_ROOT/.lock" 2>/dev/null || true
        trap - EXIT
        "$HERE/rollback.sh" "$from" || true
    fi
    exit 1
fi

# Keep the newest three releases besides current and previous; old ones only cost disk.
keep_current=$(release_of current); keep_previous=$(release_of previous)
ls -1t "$RELEASES" | while read -r old; do
    case "$old" in "$keep_current"|"$keep_previous") continue ;; esac
    echo "$old"
done | tail -n +4 | while read -r old; do rm -rf "${RELEASES:?}/$old"; say "removed old release $old"; done
say "done: $version is current"
