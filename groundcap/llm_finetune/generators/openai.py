"""Captions from any OpenAI-compatible chat endpoint (OpenAI, ``vllm serve``, llama.cpp, Ollama).

Standard library only: ``urllib.request`` for HTTP, a thread pool for bounded
concurrency, a shared limiter for the client-side rate limit.

Per prompt, one request with ``temperature=0, n=1`` gives the greedy candidate
(first in the list, ``greedy=True``), then one request with ``n=N-1`` gives the
samples. An endpoint that rejects ``n>1`` (HTTP 400 naming ``n``) gets N-1
single-sample requests instead, with seeds ``seed, seed+1, ...`` so they differ;
one that rejects ``logprobs`` is asked again without it. Both are remembered
for the rest of the generator's life.

Failures never raise: after the retries, a prompt whose greedy request failed
gets ``[Completion("", error=reason)]``; one whose samples failed keeps its
greedy candidate and gets that error completion after it. Other prompts go on.

Retry policy, per request:
    * Retried (at most ``config.max_retries`` times): HTTP 408, 429, 500, 502,
      503, 504; refused or reset connections; timeouts; truncated bodies;
      bodies that are not JSON.
    * Not retried: every other status (400, 401, 403, 404, ...) and answers
      that are JSON but not a chat completion.
    * Wait before retry k (1-based): ``Retry-After`` (seconds or HTTP date; or
      ``retry-after-ms``) when the server sends it, capped at
      :attr:`OpenAIGenerator.retry_after_cap` (60 s); else exponential backoff
      with equal jitter, ``min(8, 0.5 * 2**(k-1)) * U(0.5, 1)`` seconds.

Time bound: every attempt is cut off ``config.timeout`` seconds after it starts
(a watchdog shuts the socket down, so a server that trickles bytes cannot hold
it longer), hence one request takes at most
:attr:`OpenAIGenerator.max_request_seconds` =
``(max_retries + 1) * timeout + max_retries * max(8, 60)``, plus time queued in
the rate limiter. A prompt makes two requests (N in single-sample mode), and
``concurrency`` prompts run at once, so a batch of P prompts ends within
``ceil(P / concurrency) * 2 * max_request_seconds`` plus the rate limit's
spacing (``60 / requests_per_minute`` seconds between any two attempts).

The API key comes from the environment variable named by ``config.api_key_env``
or, failing that, from a ``KEY=VALUE`` line in ``./.env``. Without a key no
``Authorization`` header is sent, which is what local servers expect. The key
never appears in ``repr``, logs, exceptions or ``Completion.error``.

>>> gen = OpenAIGenerator(GenerateConfig(model="gpt-4o-mini"))  # doctest: +SKIP
>>> gen.generate_raw([Prompt(messages=(("user", "Describe: a red bus."),))], n=3)  # doctest: +SKIP
[[Completion(text='A red bus.', logprob=-0.21, greedy=True, error=None), ...]]
"""

from __future__ import annotations

import functools
import http
import http.client
import json
import logging
import random
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

from groundcap.config import GenerateConfig
from groundcap.errors import ConfigError
from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.llm_finetune.generators.http import (
    Deadline, RateLimiter, Secret, WatchedHTTPHandler, WatchedHTTPSHandler, read_key, retry_after,
)
from groundcap.records import Facts, Prompt

__all__ = ["OpenAIGenerator"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_STOP = 4  # OpenAI rejects more than four stop sequences
_DETAIL_CHARS = 300
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


class OpenAIGenerator(Generator):
    """Caption writer backed by an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        config: Uses ``model`` (required), ``base_url``, ``api_key_env``,
            ``max_new_tokens``, ``temperature``, ``top_p``, ``seed``,
            ``requests_per_minute`` (0 or less: no limit), ``max_retries``,
            ``timeout`` and ``concurrency``.

    Raises:
        ConfigError: ``config.model`` is empty, or the API key cannot go in
            a header (``GenerateConfig`` itself refuses a non-http(s)
            ``base_url`` and out-of-range ``timeout`` / ``max_retries``).
    """

    name = "openai"

    #: First backoff in seconds; doubles per retry.
    backoff_base: float = 0.5
    #: Longest backoff when the server sends no Retry-After.
    backoff_cap: float = 8.0
    #: Longest wait honoured from a Retry-After header: longer asks are
    #: usually quota resets measured in minutes, which a caption batch should
    #: report rather than sleep through.
    retry_after_cap: float = 60.0

    def __init__(self, config: GenerateConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if not cfg.model:
            raise ConfigError("the openai generator needs a model name: pass --model (e.g. --model gpt-4o-mini)")
        self._url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._key = Secret(read_key(cfg.api_key_env, Path.cwd() / ".env"))
        if self._key.value and not _HEADER_SAFE.fullmatch(self._key.value):
            # http.client would reject it later with the value in the message.
            raise ConfigError(f"the API key in ${cfg.api_key_env} (or ./.env) holds characters "
                              "not allowed in an HTTP header (spaces, quotes, non-ASCII)")
        self._limiter = RateLimiter(cfg.requests_per_minute)
        self._single_sample = False  # set once the endpoint rejects n>1
        self._logprobs = True  # cleared once the endpoint rejects logprobs

    def __repr__(self) -> str:
        auth = "key" if self._key.value else "no key"
        return f"{type(self).__name__}(model={self.config.model!r}, base_url={self.config.base_url!r}, {auth})"

    @property
    def model_id(self) -> str:
        """The model name sent to the endpoint."""
        return self.config.model

    @property
    def max_request_seconds(self) -> float:
        """Worst-case seconds for one request with all its retries, rate-limit queueing aside."""
        r = self.config.max_retries
        return (r + 1) * self.config.timeout + r * max(self.backoff_cap, self.retry_after_cap)

    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        """Greedy answer plus ``n - 1`` samples per prompt, in prompt order; never raises per prompt."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        prompts = list(prompts)
        if not prompts:
            return []
        workers = max(1, min(self.config.concurrency, len(prompts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="groundcap-openai") as pool:
            return list(pool.map(functools.partial(self._generate_one, n=n), prompts))

    # -- one prompt ----------------------------------------------------------

    def _generate_one(self, prompt: Prompt, n: int) -> list[Completion]:
        try:
            try:
                data = self._request(self._payload(prompt, 1, greedy=True, seed=self.config.seed))
            except _Failure as f:
                return [self._failed(f)]
            out = _completions(data, greedy=True)[:1]
            if n > 1:
                out += self._samples(prompt, n - 1)
            return out
        except Exception as e:  # a bug must cost one prompt, not the batch
            reason = self._redact(f"unexpected error: {type(e).__name__}: {e}")
            log.warning("openai generator: %s", reason)  # no traceback: its text is not redacted
            return [Completion("", error=reason)]

    def _samples(self, prompt: Prompt, want: int) -> list[Completion]:
        seed = self.config.seed
        if want > 1 and not self._single_sample:
            try:
                return _completions(self._request(self._payload(prompt, want, greedy=False, seed=seed)))
            except _Failure as f:
                if not f.rejects("n"):
                    return [self._failed(f)]
                self._single_sample = True
                log.info("%s rejects n>1; asking for one sample per request", self._url)
        out: list[Completion] = []
        for i in range(want):
            try:
                data = self._request(self._payload(prompt, 1, greedy=False, seed=seed + i))
            except _Failure as f:
                out.append(self._failed(f))
                break  # the endpoint is failing: keep what we have, spend no more time
            out += _completions(data)[:1]
        return out

    def _failed(self, f: _Failure) -> Completion:
        log.warning("openai generator: %s", f.reason)
        return Completion("", error=f.reason)

    def _payload(self, prompt: Prompt, n: int, greedy: bool, seed: int) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": prompt.chat(),
            "max_tokens": cfg.max_new_tokens,
            "temperature": 0.0 if greedy else cfg.temperature,
            "top_p": 1.0 if greedy else cfg.top_p,
            "n": n,
            "seed": seed,
        }
        if prompt.stop:
            body["stop"] = list(prompt.stop[:MAX_STOP])
        if self._logprobs:
            body["logprobs"] = True
        return body

    # -- one request, with retries ------------------------------------------

    def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._post(payload)
        except _Failure as f:
            if not (payload.get("logprobs") and f.rejects("logprobs")):
                raise
            self._logprobs = False
            log.info("%s rejects logprobs; asking without them", self._url)
            return self._post({k: v for k, v in payload.items() if k != "logprobs"})

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode("utf-8")
        retries = self.config.max_retries
        for attempt in range(retries + 1):
            self._limiter.wait()
            try:
                return self._attempt(body)
            except _Failure as f:
                if not f.retryable:
                    raise
                if attempt == retries:
                    raise f.given_up(retries) from None
                wait = self._wait(attempt + 1, f.retry_after)
                log.info("openai request failed (%s); retry %d/%d in %.2f s", f.reason, attempt + 1, retries, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry - 1))
        # Equal jitter: never less than half the backoff, so a struggling
        # server still gets room, yet clients that failed together spread out.
        return ceiling * random.uniform(0.5, 1.0)

    def _attempt(self, body: bytes) -> dict[str, Any]:
        timeout = self.config.timeout
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key.value:
            headers["Authorization"] = f"Bearer {self._key.value}"
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        with Deadline(timeout) as deadline:
            opener = urllib.request.build_opener(WatchedHTTPHandler(deadline), WatchedHTTPSHandler(deadline))
            try:
                with opener.open(request, timeout=timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as e:
                raise self._http_failure(e) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                raise _transport_failure(e, deadline) from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Failure("invalid JSON in response", retryable=True) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            if isinstance(data, dict) and data.get("error"):
                message, _ = _error_fields(data)
                raise _Failure(self._redact(f"endpoint error: {message}"[:_DETAIL_CHARS]))
            raise _Failure("unexpected response: no 'choices' list")
        return data

    def _http_failure(self, e: urllib.error.HTTPError) -> _Failure:
        status = e.code
        try:
            text = e.read(16384).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            text = ""
        message, param = _error_fields(text)
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        reason = f"HTTP {status} {phrase}".rstrip()
        env = self.config.api_key_env
        if status == 401:
            # Servers echo (part of) a wrong key in their 401 message; drop it.
            where = f"${env} or ./.env"
            message = f"check the API key in {where}" if self._key.value else f"no API key found in {where}"
        elif status == 403:
            message = "the key may not use this model or endpoint"
        elif status == 404 and not message:
            message = f"check base_url ({self.config.base_url}) and model ({self.config.model})"
        detail = self._redact(message)[:_DETAIL_CHARS]
        return _Failure(f"{reason}: {detail}" if detail else reason, retryable=status in RETRY_STATUSES,
                        retry_after=retry_after(e.headers), status=status, detail=detail, param=param)

    def _redact(self, text: str) -> str:
        key = self._key.value
        return text.replace(key, "<api key>") if key else text


class _Failure(Exception):
    """A failed request. ``reason`` is safe to show: it never holds the key."""

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None,
                 status: int | None = None, detail: str = "", param: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.detail = detail
        self.param = param

    def rejects(self, param: str) -> bool:
        """Whether this is an HTTP 400 blaming request field ``param``."""
        if self.status != 400:
            return False
        return self.param == param or re.search(rf"(?<![\w-]){param}(?![\w-])", self.detail.lower()) is not None

    def given_up(self, retries: int) -> _Failure:
        if self.status is not None:
            head = f"HTTP {self.status} after {retries} retries"
            reason = f"{head}: {self.detail}" if self.detail else head
        else:
            reason = f"{self.reason} (after {retries} retries)"
        return _Failure(reason, status=self.status, detail=self.detail, param=self.param)


def _transport_failure(exc: BaseException, deadline: Deadline) -> _Failure:
    """Names a failure below HTTP: refused, reset, truncated, timed out."""
    cause: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if deadline.expired or isinstance(cause, TimeoutError):
        return _Failure(f"timed out after {deadline.seconds:g} s", retryable=True)
    if isinstance(cause, ConnectionRefusedError):
        return _Failure("connection refused", retryable=True)
    if isinstance(cause, http.client.IncompleteRead):
        return _Failure("truncated response body", retryable=True)
    if isinstance(cause, ConnectionResetError):  # includes RemoteDisconnected
        return _Failure("connection reset", retryable=True)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _Failure(f"TLS certificate rejected: {cause.verify_message}")
    if isinstance(cause, socket.gaierror):
        return _Failure("cannot resolve the endpoint's host name", retryable=True)
    return _Failure(f"connection error: {type(cause).__name__}", retryable=True)


def _completions(data: Mapping[str, Any], greedy: bool = False) -> list[Completion]:
    """Chat choices as completions, with the mean token logprob when the endpoint sent it.

    ``finish_reason: "length"`` (the answer hit ``max_tokens``) marks the completion ``truncated``.
    """
    out = []
    for choice in data.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        out.append(Completion(text if isinstance(text, str) else "", _mean_logprob(choice.get("logprobs")), greedy,
                              truncated=choice.get("finish_reason") == "length"))
    return out


def _mean_logprob(logprobs: Any) -> float | None:
    if not isinstance(logprobs, dict):
        return None
    tokens = logprobs.get("content")
    if isinstance(tokens, list):
        values = [t.get("logprob") for t in tokens if isinstance(t, dict)]
    else:  # the legacy completions shape some servers still send
        values = logprobs.get("token_logprobs") or []
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(values) / len(values) if values else None


def _error_fields(data: Any) -> tuple[str, str | None]:
    """``(message, param)`` from an error body (text or parsed) in OpenAI's shape or plain."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return data.strip(), None
    if isinstance(data, str):
        return data, None
    if not isinstance(data, dict):
        return "", None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, None
    if not isinstance(err, dict):
        return "", None
    message = err.get("message") or err.get("detail") or ""
    param = err.get("param")
    return str(message), param if isinstance(param, str) else None
