"""HTTP plumbing for API generators: deadlines, rate limiting, Retry-After, secrets.

urlopen's timeout bounds each socket read, not the request: a server that
trickles a byte now and then could hold a call forever. :class:`Deadline`
shuts the socket down when the whole attempt has run too long.
"""

from __future__ import annotations

import email.utils
import functools
import http
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timezone
from pathlib import Path
from typing import Any


__all__ = ["retry_after", "read_key", "Secret", "RateLimiter", "Deadline", "WatchedHTTPHandler",
           "WatchedHTTPSHandler"]


def retry_after(headers: Any) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def read_key(env_name: str, dotenv: Path) -> str | None:
    """The API key from the environment, else from ``KEY=VALUE`` lines in ``dotenv``."""
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    try:
        lines = dotenv.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    found = None
    for line in lines:
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        if not sep or name.strip() != env_name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found = value or None  # the last assignment wins, as in a shell
    return found


class Secret:
    """Holds the key so that ``repr``, ``vars()`` dumps and debuggers show no value."""

    __slots__ = ("value",)

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<hidden>" if self.value else "<none>"

    __str__ = __repr__


class RateLimiter:
    """Spaces request starts at least ``60 / per_minute`` s apart, across all threads."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute and per_minute > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:  # reserve a slot, then sleep outside the lock
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class Deadline:
    """Shuts a request's socket down ``seconds`` after the request starts.

    ``urlopen``'s timeout bounds each socket read, not the whole exchange; a
    server sending a byte now and then could hold a request forever. Shutting
    the socket down wakes the blocked read, and :attr:`expired` tells why.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            shutdown(sock)


def shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class WatchedConnection:
    """Mixin handing the connected socket to a :class:`Deadline`."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._deadline.attach(self.sock)  # type: ignore[attr-defined]


class WatchedHTTPConnection(WatchedConnection, http.client.HTTPConnection):
    pass


class WatchedHTTPSConnection(WatchedConnection, http.client.HTTPSConnection):
    pass


class WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(WatchedHTTPConnection, deadline=self._deadline), req)


class WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(WatchedHTTPSConnection, deadline=self._deadline), req,
                            context=self._context)
