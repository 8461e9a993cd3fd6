#!/bin/sh
# Switches the kiosk back to an earlier release; the data folder is kept.
#
# Usage: deploy/rollback.sh [VERSION]      (default: the release `previous` points to)
#
# The database: when the release being left applied migrations the older one does not know, the
# older kiosk would refuse it (storage_schema_newer). Then the backup taken just before that
# upgrade is restored, and the migrated database is kept beside it as kiosk.db.replaced-<time>:
# certifications made since the upgrade are in that file, not lost, and `upgrade.log` says so,
# so staff can have them re-sent. When no migration was applied the database stays as it is.
# Environment: see deploy/lib.sh. Exit status: 0 switched back, 1 not (nothing changed), 2 usage.
set -eu
PROG=kiosk-rollback
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -le 1 ] || { echo "usage: $0 [VERSION]" >&2; exit 2; }
lock
leaving=$(release_of current)
target=${1:-$(release_of previous)}
[ -n "$target" ] || die "no previous release to go back to (give a VERSION: $(ls -1 "$RELEASES" | tr '\n' ' '))"
[ -x "$RELEASES/$target/kiosk" ] || die "release $target is not installed"
[ "$target" != "$leaving" ] || die "$target is already current"

status=$(kiosk_as_user "$target" db status --json) || die "release $target cannot read the database status"
restore=""
case "$status" in
    *'"unknown": []'*) ;;
    *)  restore=$(info_of "$leaving" backup)
        [ -n "$restore" ] && [ -f "$restore" ] || die "the database has migrations $target does not know and no backup from before $leaving was found; nothing changed"
        ;;
esac

stop_service
if [ -n "$restore" ]; then
    kiosk_as_user "$target" db restore "$restore" || { start_service || true; die "restoring $restore failed; nothing changed"; }
    say "database restored from $restore; the database of $leaving is kept beside it (records made since the upgrade are there)"
fi
install_voice "$target"
point current "$target"
[ -n "$leaving" ] && point previous "$leaving"
say "switched current from ${leaving:-nothing} to $target"
start_service || die "the service did not report ready after the rollback: look at journalctl -u ${KIOSK_SERVICE:-kiosk}"
say "done: $target is current"
