# Shared by deploy/upgrade.sh and deploy/rollback.sh (sourced, POSIX sh). Not run on its own.
#
# Layout on a terminal (every path can be moved by the environment variable named after it):
#   KIOSK_ROOT=/opt/kiosk           releases/<version>/ (one bundle each), current -> releases/<v>,
#                                   previous -> releases/<v>, upgrade.log
#   KIOSK_DATA_DIR=/var/lib/kiosk   kiosk.db, logs/, voice/, backups/ (never touched by a release switch)
#   KIOSK_CONFIG=/etc/kiosk/kiosk.toml  the site file, passed as --config when it exists
#   KIOSK_SERVICE=kiosk.service     the unit stopped and started around a switch ("" = none, for tests)
#   KIOSK_USER=kiosk                database commands run as this user when run as root
#   KIOSK_START_TIMEOUT_S=90        how long the service may take to report READY=1 after a switch

KIOSK_ROOT=${KIOSK_ROOT:-/opt/kiosk}
KIOSK_DATA_DIR=${KIOSK_DATA_DIR:-/var/lib/kiosk}
KIOSK_CONFIG=${KIOSK_CONFIG:-/etc/kiosk/kiosk.toml}
KIOSK_SERVICE=${KIOSK_SERVICE-kiosk.service}
KIOSK_USER=${KIOSK_USER:-kiosk}
KIOSK_START_TIMEOUT_S=${KIOSK_START_TIMEOUT_S:-90}
RELEASES="$KIOSK_ROOT/releases"
export KIOSK_DATA_DIR
# Database, backups and clips are created owner-only, as the service's UMask=0077 does.
umask 077

say() { printf '%s: %s\n' "$PROG" "$*"; printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*" >>"$KIOSK_ROOT/upgrade.log" 2>/dev/null || true; }
die() { say "ERROR: $*" >&2; exit 1; }

# Runs a release's kiosk (database commands, version) as the service user, with the site config.
kiosk_as_user() {
    exe="$RELEASES/$1/kiosk"; shift
    if [ -f "$KIOSK_CONFIG" ]; then set -- --config "$KIOSK_CONFIG" "$@"; fi
    if [ "$(id -u)" = 0 ] && id "$KIOSK_USER" >/dev/null 2>&1; then
        runuser -u "$KIOSK_USER" -- env KIOSK_DATA_DIR="$KIOSK_DATA_DIR" "$exe" "$@"
    else
        "$exe" "$@"
    fi
}

# The release a symlink (current, previous) points to, or nothing.
release_of() { [ -L "$KIOSK_ROOT/$1" ] && basename "$(readlink "$KIOSK_ROOT/$1")" || true; }

# Points KIOSK_ROOT/<name> at releases/<release>, atomically (rename over the old link).
point() {
    ln -sfn "releases/$2" "$KIOSK_ROOT/.$1.new"
    mv -T "$KIOSK_ROOT/.$1.new" "$KIOSK_ROOT/$1"
}

lock() {
    install -d -m 0755 "$KIOSK_ROOT" "$RELEASES"  # the kiosk user must reach the releases
    mkdir "$KIOSK_ROOT/.lock" 2>/dev/null || die "another upgrade or rollback holds $KIOSK_ROOT/.lock (remove it if none runs)"
    trap 'rmdir "$KIOSK_ROOT/.lock" 2>/dev/null || true' EXIT
    trap 'exit 130' INT TERM HUP  # so that the EXIT trap also runs when interrupted
}

managed() { [ -n "$KIOSK_SERVICE" ] && command -v systemctl >/dev/null 2>&1; }

stop_service() { if managed; then say "stopping $KIOSK_SERVICE"; systemctl stop "$KIOSK_SERVICE" || true; fi; }

# Starts the service and waits until systemd calls it active (Type=notify: after READY=1).
start_service() {
    managed || return 0
    say "starting $KIOSK_SERVICE"
    systemctl start --no-block "$KIOSK_SERVICE" || return 1
    waited=0
    while [ "$waited" -lt "$KIOSK_START_TIMEOUT_S" ]; do
        state=$(systemctl is-active "$KIOSK_SERVICE" || true)
        [ "$state" = active ] && return 0
        [ "$state" = failed ] && return 1
        sleep 1; waited=$((waited + 1))
    done
    return 1
}

# Installs a release's rendered voice clips as <data_dir>/voice (recorded clips in ui.voice_dir
# are a separate folder and win by name, so they are never touched).
install_voice() {
    src="$RELEASES/$1/_internal/voice"
    [ -d "$src" ] || return 0
    rm -rf "$KIOSK_DATA_DIR/.voice.new" "$KIOSK_DATA_DIR/.voice.old"
    cp -a "$src" "$KIOSK_DATA_DIR/.voice.new"
    [ -d "$KIOSK_DATA_DIR/voice" ] && mv "$KIOSK_DATA_DIR/voice" "$KIOSK_DATA_DIR/.voice.old"
    mv "$KIOSK_DATA_DIR/.voice.new" "$KIOSK_DATA_DIR/voice"
    rm -rf "$KIOSK_DATA_DIR/.voice.old"
    if [ "$(id -u)" = 0 ] && id "$KIOSK_USER" >/dev/null 2>&1; then chown -R "$KIOSK_USER:" "$KIOSK_DATA_DIR/voice"; fi
}

# "key=value" lines of a release's UPGRADE_INFO, one value by key.
info_of() { sed -n "s/^$2=//p" "$RELEASES/$1/UPGRADE_INFO" 2>/dev/null | tail -n 1; }
