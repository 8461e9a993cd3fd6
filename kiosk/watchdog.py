"""systemd notifications (``sd_notify``) in pure Python: READY, WATCHDOG, STATUS, STOPPING.

The unit (``deploy/kiosk.service``) runs the kiosk with ``Type=notify`` and ``WatchdogSec=``:
systemd waits for ``READY=1`` before it counts the service as started, and kills and restarts it
when no ``WATCHDOG=1`` arrives within the watchdog interval. The UI calls :func:`notify_alive` from
a Qt timer on its own thread, so a frozen UI loop (the thing a person at the terminal would see as
a hung screen) stops the pings and systemd restarts the kiosk.

How the UI wires it (GUI thread, once the main window is shown)::

    timer = QTimer(window)
    timer.timeout.connect(watchdog.notify_alive)
    timer.start(watchdog.ping_interval_ms())   # half of WatchdogSec, 15 s with the shipped unit
    watchdog.notify_ready("idle")              # without it systemd kills the kiosk after TimeoutStartSec

The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside systemd the variable
is unset and every call is a cheap no-op returning False, so the same code runs in tests, in
``kiosk demo`` and on a developer's machine. No dependency on libsystemd or python-systemd: the
terminal image needs nothing extra and the bundle stays self-contained.

Thread rules: every function may be called from any thread; each call opens its own socket, so
there is no shared state except the read-only environment. Nothing here raises: a notification
that cannot be delivered is logged at DEBUG and reported by the return value, because a failing
watchdog ping must never take the kiosk down (systemd will restart it if the pings stop).
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"

_STATUS_MAX_CHARS = 200  # systemctl status shows one line; a longer text only costs bytes


def _socket_address(raw: str) -> str | bytes | None:
    """The address for ``sendto``: a filesystem path, or ``\\0name`` for an abstract socket."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # systemd only hands out these two forms; anything else is not ours to write to


def notify(state: str, *, env: dict[str, str] | None = None) -> bool:
    """Sends ``state`` (one or more ``KEY=VALUE`` lines) to systemd.

    ``env`` replaces ``os.environ`` (for tests). Returns True when the datagram was sent, False
    when not running under systemd (no ``$NOTIFY_SOCKET``) or when sending failed. Never raises.
    """
    environ = os.environ if env is None else env
    raw = environ.get(NOTIFY_SOCKET_ENV, "")
    if not raw:
        return False
    address = _socket_address(raw)
    if address is None:
        log.debug("ignoring NOTIFY_SOCKET of unknown form")
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc.strerror or type(exc).__name__)
        return False
    return True


def notify_ready(status: str = "idle", *, env: dict[str, str] | None = None) -> bool:
    """Tells systemd start-up is complete (``READY=1``) with a status line; see :func:`notify`."""
    return notify(f"READY=1\nSTATUS={_clean(status)}\nMAINPID={os.getpid()}", env=env)


def notify_alive(*, env: dict[str, str] | None = None) -> bool:
    """Pings the watchdog (``WATCHDOG=1``). Call it from the UI thread's timer every
    :func:`watchdog_interval_s` / 2 seconds or more often; see :func:`notify`."""
    return notify("WATCHDOG=1", env=env)


def notify_status(status: str, *, env: dict[str, str] | None = None) -> bool:
    """Sets the one-line status ``systemctl status kiosk`` shows (no personal data: a state name
    or a reason code). Newlines are replaced and the text is cut to 200 characters."""
    return notify(f"STATUS={_clean(status)}", env=env)


def notify_stopping(*, env: dict[str, str] | None = None) -> bool:
    """Tells systemd a clean shutdown has begun (``STOPPING=1``), so it does not count it a crash."""
    return notify("STOPPING=1", env=env)


def watchdog_interval_s(*, env: dict[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd set for this process (seconds), or None when there is none.

    None also when ``$WATCHDOG_PID`` names another process (the variable was inherited by a child
    that must not ping on its parent's behalf) or when ``$WATCHDOG_USEC`` is not a positive integer.
    """
    environ = os.environ if env is None else env
    pid = environ.get(WATCHDOG_PID_ENV)
    if pid is not None and pid != str(os.getpid()):
        return None
    try:
        usec = int(environ.get(WATCHDOG_USEC_ENV, ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


def ping_interval_ms(*, env: dict[str, str] | None = None, default_s: float = 10.0) -> int:
    """The period for the UI's ping timer (milliseconds): half the watchdog timeout, as
    ``sd_watchdog_enabled(3)`` advises, or half of ``default_s`` when systemd set none."""
    interval = watchdog_interval_s(env=env) or default_s
    return max(100, int(interval * 1000 / 2))


def _clean(text: str) -> str:
    return " ".join(text.split())[:_STATUS_MAX_CHARS]
