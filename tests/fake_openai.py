"""A fake OpenAI-compatible endpoint on 127.0.0.1 for tests (tests/ is on sys.path via conftest).

:class:`FakeOpenAI` is a ``ThreadingHTTPServer`` on port 0 that plays scripted
:class:`Reply` objects and records what arrived, when, and how many requests
were in flight at once. Test modules import the ``serve`` fixture from here::

    from fake_openai import OK, Reply, serve  # noqa: F401 - serve is a fixture
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, NamedTuple

import pytest

__all__ = ["Reply", "OK", "LOGPROBS", "chat_answer", "Arrival", "FakeOpenAI", "serve", "closed_port_url"]


class Reply(NamedTuple):
    """What the fake endpoint does with one request.

    ``body=None`` answers a chat completion built from the request (its
    messages echoed, or ``text`` when given); a dict is sent as JSON, bytes as
    they are.
    """

    status: int = 200
    headers: dict[str, str] = {}
    body: Any = None
    delay: float = 0.0  # seconds before anything is sent
    truncate: bool = False  # announce more bytes than are sent, then hang up
    trickle: float = 0.0  # send the body one byte per this many seconds
    text: str | None = None  # the answer of every choice, instead of the echo
    finish_reason: str = "stop"


OK = Reply()
LOGPROBS = [-0.5, -1.5]  # mean -1.0


def chat_answer(request: dict[str, Any], text: str | None = None, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion with ``request["n"]`` choices: ``text``, or ``"greedy|sample SEED.I: LAST MESSAGE"``."""
    kind = "greedy" if request["temperature"] == 0 else "sample"
    last = request["messages"][-1]["content"]
    choices = []
    for i in range(request["n"]):
        content = f"{kind} {request['seed']}.{i}: {last}" if text is None else text
        choice: dict[str, Any] = {"index": i, "finish_reason": finish_reason,
                                  "message": {"role": "assistant", "content": content}}
        if request.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": "x", "logprob": lp} for lp in LOGPROBS]}
        choices.append(choice)
    return {"id": "chatcmpl-1", "object": "chat.completion", "choices": choices}


class Arrival(NamedTuple):
    at: float
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """An OpenAI-compatible endpoint that plays ``replies`` in order (the last one repeats),
    or asks ``replies(index, request_body)`` for each request."""

    def __init__(self, replies: list[Reply] | Callable[[int, dict[str, Any]], Reply]) -> None:
        self.replies = replies
        self.arrivals: list[Arrival] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.httpd.handle_error = lambda request, address: None  # clients hang up on purpose
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def arrive(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            index = len(self.arrivals)
            self.arrivals.append(Arrival(time.monotonic(), headers, body))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if callable(self.replies):
            return self.replies(index, body)
        return self.replies[min(index, len(self.replies) - 1)]

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def close(self) -> None:
        self.stop.set()  # wakes handlers sleeping in a delay
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = fake.arrive({k.lower(): v for k, v in self.headers.items()}, request)
        left = False
        try:
            if self.path != "/v1/chat/completions":
                reply = Reply(404, body={"error": {"message": f"no route {self.path}"}})
            if reply.delay and fake.stop.wait(reply.delay):
                return
            # Out of flight before the reply goes: once the client has it, it may send the
            # next request before this thread gets past _send.
            fake.leave()
            left = True
            self._send(reply, request, fake.stop)
        except OSError:
            pass  # the client gave up first, as some cases intend
        finally:
            if not left:
                fake.leave()

    def _send(self, reply: Reply, request: dict[str, Any], stop: threading.Event) -> None:
        body = reply.body if reply.body is not None else chat_answer(request, reply.text, reply.finish_reason)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data) + (100 if reply.truncate else 0)))
        self.end_headers()
        if reply.trickle:
            for i in range(len(data)):
                if stop.wait(reply.trickle):
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        else:
            self.wfile.write(data)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve():
    """``serve(replies)`` starts a :class:`FakeOpenAI`; every server started is closed after the test."""
    servers: list[FakeOpenAI] = []

    def start(replies):
        servers.append(FakeOpenAI(replies))
        return servers[-1]

    yield start
    for server in servers:
        server.close()



def closed_port_url() -> str:
    """An endpoint URL on a local port where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
