"""A dependable asynchronous client for OpenAI-compatible endpoints.

Used by the ``openai`` sampling backend and by the ``openai`` rectification
oracle. The SDK's own retries are off (``max_retries=0``) so that every
attempt is ours to count: 429, 5xx, connection errors, timeouts and
malformed responses are retried with exponential backoff and full jitter,
honouring ``Retry-After``; other 4xx fail at once. The API key is read from
an environment variable and never logged, stored or put in an error message.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import openai


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


class RequestFailed(Exception):
    """All attempts failed; ``reason`` is safe to record (no secrets)."""

    def __init__(self, reason: str, attempts: int):
        super().__init__(reason)
        self.reason, self.attempts = reason, attempts


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
            "retries": self.retries,
            "retry_reasons": dict(self.retry_reasons),
        }


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str
    completion_tokens: int


class ChatClient:
    def __init__(self, cfg: EndpointConfig):
        self.cfg = cfg
        key = os.environ.get(cfg.api_key_env) or "EMPTY"  # local servers accept any key
        self._key = key
        self.client = openai.AsyncOpenAI(
            base_url=cfg.base_url, api_key=key, max_retries=0, timeout=cfg.timeout
        )
        self.usage = Usage()
        self._next_slot = 0.0
        self._rate_lock = asyncio.Lock()

    async def chat(self, messages: list[dict[str, str]], **params: Any) -> Reply:
        return await self._with_retries(
            lambda: self.client.chat.completions.create(
                model=self.cfg.model, messages=messages, **params
            ),
            chat=True,
        )

    async def complete(self, prompt: str, **params: Any) -> Reply:
        return await self._with_retries(
            lambda: self.client.completions.create(model=self.cfg.model, prompt=prompt, **params),
            chat=False,
        )

    async def close(self) -> None:
        await self.client.close()

    async def _with_retries(self, call, chat: bool) -> Reply:
        last = "no attempt"
        for attempt in range(self.cfg.max_retries + 1):
            await self._rate_limit()
            delay = None
            try:
                response = await call()
                return self._reply(response, chat)
            except openai.RateLimitError as e:
                last, delay = "429 rate limited", _retry_after(e)
            except openai.APITimeoutError:
                last = "timeout"
            except openai.APIConnectionError:
                last = "connection error"
            except openai.InternalServerError as e:
                last, delay = f"{e.status_code} server error", _retry_after(e)
            except (
                openai.APIStatusError
            ) as e:  # other 4xx: our request is wrong; retrying won't help
                message = redact(str(getattr(e, "message", "") or "")[:200], self._key)
                raise RequestFailed(f"{e.status_code} {message}", attempt + 1) from None
            except (
                ValueError,
                KeyError,
                TypeError,
                AttributeError,
                IndexError,
                openai.APIResponseValidationError,
            ):
                last = "malformed response"
            if attempt == self.cfg.max_retries:
                break
            self.usage.retries += 1
            self.usage.retry_reasons[last] = self.usage.retry_reasons.get(last, 0) + 1
            await asyncio.sleep(delay if delay is not None else self._backoff(attempt))
        raise RequestFailed(
            f"gave up after {self.cfg.max_retries + 1} attempts: {last}", self.cfg.max_retries + 1
        )

    def _reply(self, response: Any, chat: bool) -> Reply:
        choice = response.choices[0]
        text = choice.message.content if chat else choice.text
        if not isinstance(text, str):
            raise ValueError("no text in response")
        usage = getattr(response, "usage", None)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.usage.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.usage.completion_tokens += completion
        self.usage.requests += 1
        return Reply(text, str(choice.finish_reason or "stop"), completion)

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


def _retry_after(e: openai.APIStatusError) -> float | None:
    value = e.response.headers.get("retry-after") if e.response is not None else None
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def redact(text: str, key: str) -> str:
    """Remove the key, and anything shaped like an API key, from text we may record.

    Some APIs echo a masked key in 401 messages; never let any of it through.
    """
    if key and key != "EMPTY":
        text = text.replace(key, "***")
    return re.sub(r"\b(sk|AIza|key)[-_A-Za-z0-9*.]{6,}", "***", text)
