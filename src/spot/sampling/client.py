"""A dependable asynchronous client for OpenAI-compatible endpoints.

Used by the ``openai`` sampling backend and by the ``openai`` rectification
oracle. It speaks the chat-completions and completions JSON over aiohttp: the
official SDK costs about 5 ms of CPU per request (request building, pydantic,
httpx's connection pool), which made a 2-core client the bottleneck at a few
hundred requests in flight; aiohttp needs about 0.6 ms.

Every attempt is counted: 429, 5xx, connection errors, timeouts and malformed
responses are retried with exponential backoff and full jitter, honouring
``Retry-After``; other 4xx fail at once. The API key is read from an
environment variable and never logged, stored or put in an error message.

Model text is never altered for a key that cannot be a secret: local servers need none, and
their users pass a dummy (``x``, ``EMPTY``, ``none``): cutting every ``x`` out of the replies
would corrupt every answer. A real key found in a reply (a server that echoes it) is replaced
by ``***``, counted in ``Usage.key_echoes`` and reported when the client closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from spot import fields

SECRET_MIN_LENGTH = 16
"""Shorter keys are dummies (real API keys are 30 to 200 characters): never looked for in text."""
DUMMY_KEYS = frozenset(
    {
        "empty",
        "none",
        "null",
        "dummy",
        "token",
        "key",
        "test",
        "secret",
        "password",
        "changeme",
        "placeholder",
        "no-key",
        "nokey",
        "sk-no-key-required",
        "not-needed",
        "not-used",
        "unused",
        "fake",
        "local",
        "vllm",
        "ollama",
        "lm-studio",
        "sk-dummy",
        "sk-fake",
        "sk-test",
    }
)
"""Common stand-ins for "no key" (compared without case): never looked for in text."""


def could_be_secret(key: str) -> bool:
    """Whether ``key`` may be a real credential worth keeping out of stored text."""
    return len(key) >= SECRET_MIN_LENGTH and key.strip().lower() not in DUMMY_KEYS


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str = "http://127.0.0.1:8000/v1"
    """Base URL of the OpenAI-compatible API."""
    model: str = "default"
    """Model name sent with each request."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (the key is never logged)."""
    timeout: float = 600.0
    """Seconds before one request is abandoned and retried."""
    max_retries: int = 6
    """Retries after the first attempt."""
    backoff: float = 1.0
    """Base of the exponential backoff in seconds (full jitter, capped at 60 s)."""
    rpm: float = 0.0
    """Requests per minute limit (0: none)."""

    @classmethod
    def of(cls, cfg) -> EndpointConfig:
        """The endpoint a stage's config names: each of these fields it has (the rest at their
        defaults: elicit and eval set no rate limit)."""
        flat = fields.flatten(cfg)  # the engine's settings sit in a group of the stage's
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: flat[n] for n in names if n in flat})


class RequestFailed(Exception):
    """All attempts failed; ``reason`` is safe to record (no secrets).

    ``status`` is the HTTP status of the last answer (None: no answer at all).
    """

    def __init__(self, reason: str, attempts: int, status: int | None = None):
        super().__init__(reason)
        self.reason, self.attempts, self.status = reason, attempts, status

    @property
    def rejects_input(self) -> bool:
        """The server understood and refused this request (400, 413, 422: e.g. a prompt too
        long): retrying the same input won't help. Anything else (no connection, timeouts,
        401/403 keys, 404 URLs or models, 429, 5xx) is the transport's fault, not the input's."""
        return self.status in (400, 413, 422)


class _Retryable(Exception):
    def __init__(self, reason: str, delay: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason, self.delay, self.status = reason, delay, status


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    key_echoes: int = 0
    """Replies that contained the API key (stored with it replaced by ``***``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
            "retries": self.retries,
            "retry_reasons": dict(self.retry_reasons),
            "key_echoes": self.key_echoes,
        }


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str
    completion_tokens: int


class ChatClient:
    """Create and use inside one running event loop; ``close()`` when done."""

    def __init__(self, cfg: EndpointConfig, concurrency: int = 64):
        self.cfg, self.concurrency = cfg, concurrency
        self._key = os.environ.get(cfg.api_key_env, "")
        self._secret = self._key if could_be_secret(self._key) else ""  # what text must not hold
        self._session: aiohttp.ClientSession | None = None
        self.usage = Usage()
        self._next_slot = 0.0
        self._rate_lock = asyncio.Lock()

    async def chat(self, messages: list[dict[str, str]], **params: Any) -> Reply:
        body = {"model": self.cfg.model, "messages": messages, **params}
        return await self._with_retries("chat/completions", body, chat=True)

    async def complete(self, prompt: str, **params: Any) -> Reply:
        body = {"model": self.cfg.model, "prompt": prompt, **params}
        return await self._with_retries("completions", body, chat=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.usage.key_echoes:  # said once, when the replies are all in
            print(
                f"warning: {self.usage.key_echoes} of {self.usage.requests} replies from "
                f"{self.cfg.base_url} contained the API key in ${self.cfg.api_key_env}; it was "
                "replaced by *** before anything was stored (the server echoes the key)",
                file=sys.stderr,
            )

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
            self._session = aiohttp.ClientSession(
                headers=headers,
                trust_env=True,  # honours HTTPS_PROXY like other clients
                connector=aiohttp.TCPConnector(limit=max(1, self.concurrency)),
            )
        return self._session

    async def _with_retries(self, path: str, body: dict, chat: bool) -> Reply:
        last, status = "no attempt", None
        for attempt in range(self.cfg.max_retries + 1):
            await self._rate_limit()
            delay = None
            try:
                return self._reply(await self._post(path, body), chat)
            except _Retryable as e:
                last, delay, status = e.reason, e.delay, e.status
            if attempt == self.cfg.max_retries:
                break
            self.usage.retries += 1
            self.usage.retry_reasons[last] = self.usage.retry_reasons.get(last, 0) + 1
            await asyncio.sleep(delay if delay is not None else self._backoff(attempt))
        tries = self.cfg.max_retries + 1
        raise RequestFailed(f"gave up after {tries} attempts: {last}", tries, status)

    async def _post(self, path: str, body: dict) -> dict:
        url = f"{self.cfg.base_url.rstrip('/')}/{path}"
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout)
        try:
            async with self.session().post(url, json=body, timeout=timeout) as r:
                text = await r.text()
                status, retry_after = r.status, _retry_after(r.headers.get("retry-after"))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise _Retryable("timeout") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            raise _Retryable("connection error") from None
        if status == 429:
            raise _Retryable("429 rate limited", retry_after, status)
        if status >= 500:
            raise _Retryable(f"{status} server error", retry_after, status)
        if status >= 400:  # our request is wrong (or the key is): retrying won't help
            raise RequestFailed(f"{status} {redact(_error_message(text), self._secret)}", 1, status)
        try:
            return json.loads(text)
        except ValueError:
            raise _Retryable("malformed response") from None

    def _reply(self, response: Any, chat: bool) -> Reply:
        try:
            choice = response["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
            if not isinstance(text, str):
                raise TypeError("no text")
        except (KeyError, IndexError, TypeError):
            raise _Retryable("malformed response") from None
        if self._secret and self._secret in text:  # an echoed key must not get stored
            text = text.replace(self._secret, "***")
            self.usage.key_echoes += 1
        usage = response.get("usage") or {}
        completion = int(usage.get("completion_tokens") or 0)
        self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.usage.completion_tokens += completion
        self.usage.requests += 1
        return Reply(text, str(choice.get("finish_reason") or "stop"), completion)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(60.0, self.cfg.backoff * 2**attempt))  # full jitter

    async def _rate_limit(self) -> None:
        if self.cfg.rpm <= 0:
            return
        async with self._rate_lock:  # hand out evenly spaced start slots
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 60.0 / self.cfg.rpm
        await asyncio.sleep(slot - now)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def _error_message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return text[:200]


def redact(text: str, key: str) -> str:
    """Remove the key, and anything shaped like an API key, from text we may record.

    Some APIs echo a masked key in 401 messages; never let any of it through. A key that
    cannot be a secret (:func:`could_be_secret`) is left alone: ``x`` is not a credential.
    """
    if key and could_be_secret(key):
        text = text.replace(key, "***")
    return re.sub(r"\b(sk|AIza|key)[-_A-Za-z0-9*.]{6,}", "***", text)
