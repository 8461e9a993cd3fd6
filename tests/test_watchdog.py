"""sd_notify over a real AF_UNIX datagram socket, the way systemd receives it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import watchdog


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A bound datagram socket standing in for systemd, and the environment pointing at it."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def _receive(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode("utf-8")
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_carries_status_and_pid(listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    assert watchdog.notify_ready("idle screen", env=env)
    message = _receive(sock)
    assert message == {"READY": "1", "STATUS": "idle screen", "MAINPID": str(os.getpid())}


def test_alive_status_and_stopping_are_single_datagrams(listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    assert watchdog.notify_alive(env=env)
    assert _receive(sock) == {"WATCHDOG": "1"}
    assert watchdog.notify_status("maintenance:\nstorage_full " + "x" * 500, env=env)
    status = _receive(sock)["STATUS"]
    assert status.startswith("maintenance: storage_full x") and len(status) == 200 and "\n" not in status
    assert watchdog.notify_stopping(env=env)
    assert _receive(sock) == {"STOPPING": "1"}


def test_abstract_socket_address() -> None:
    name = f"kiosk-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert watchdog.notify_alive(env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


@pytest.mark.parametrize("value", ["", "relative/path.sock"])
def test_no_or_unusable_socket_is_a_quiet_no_op(value: str) -> None:
    env = {"NOTIFY_SOCKET": value} if value else {}
    assert watchdog.notify_alive(env=env) is False


def test_socket_gone_returns_false_without_raising(tmp_path: Path) -> None:
    assert watchdog.notify_alive(env={"NOTIFY_SOCKET": str(tmp_path / "missing.sock")}) is False


def test_watchdog_interval_honours_pid_and_rejects_garbage() -> None:
    me = str(os.getpid())
    assert watchdog.watchdog_interval_s(env={"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}) == 30.0
    assert watchdog.watchdog_interval_s(env={"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog.watchdog_interval_s(env={"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog.watchdog_interval_s(env={"WATCHDOG_USEC": "soon"}) is None
    assert watchdog.watchdog_interval_s(env={"WATCHDOG_USEC": "0"}) is None
    assert watchdog.watchdog_interval_s(env={}) is None
    assert watchdog.ping_interval_ms(env={"WATCHDOG_USEC": "30000000"}) == 15000
    assert watchdog.ping_interval_ms(env={}, default_s=4.0) == 2000
