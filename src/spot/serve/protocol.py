"""Reading an OpenAI (chat) completions request: every field checked, errors in OpenAI's shape.

Anything wrong is a 400 whose message and ``param`` name the field. Fields we do not know
are ignored, as OpenAI-compatible servers do; fields we know but do not implement (logprobs,
penalties, tools, ...) are refused when set, rather than silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's (and vLLM's) default for the legacy completions endpoint; chat has none (the room
left in the context)."""
MAX_STOP = 4
_ROLES = ("system", "developer", "user", "assistant")
_SEED_RANGE = (-(2**63), 2**64)  # what a torch.Generator takes (the backend reduces mod 2**63)
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {  # field: the values that mean "not used"
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "echo": (None, False),
    "best_of": (None, 1),
    "suffix": (None, ""),
    "tools": (None, []),
    "functions": (None, []),
    "logit_bias": (None, {}),
    "presence_penalty": (None, 0),
    "frequency_penalty": (None, 0),
    # vLLM's and SGLang's sampling extras (sent through the OpenAI client's extra_body)
    "repetition_penalty": (None, 1),
    "length_penalty": (None, 1),
    "min_p": (None, 0),
    "min_tokens": (None, 0),
    "ignore_eos": (None, False),
    "use_beam_search": (None, False),
    "stop_token_ids": (None, []),
    "bad_words": (None, []),
    "guided_json": (None,),
    "guided_regex": (None,),
    "guided_choice": (None,),
    "guided_grammar": (None,),
    "response_format": (None, {"type": "text"}),
}


class ApiError(Exception):
    """A refusal, shaped as OpenAI's: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind, self.headers = kind, headers

    def payload(self) -> dict[str, Any]:
        return error_payload(self.message, self.kind, self.param, self.code)


def error_payload(message: str, kind: str, param: str | None, code: str | None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def invalid(param: str, what: str, value: Any = None, *, show: bool = True) -> ApiError:
    """A 400 naming ``param``: ``"temperature: must lie in [0, 2] (got 5)"``."""
    got = f" (got {_short(value)})" if show else ""
    return ApiError(400, f"{param}: {what}{got}", param=param, code="invalid_value")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class CompletionRequest:
    """A checked request; ``prompts`` holds one conversation (chat) or the prompt strings."""

    chat: bool
    model: str | None
    prompts: tuple[Any, ...]
    max_tokens: int | None
    """None: as many as the context has room for."""
    temperature: float
    top_p: float
    top_k: int
    n: int
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool
    template_kwargs: tuple[tuple[str, object], ...]


def parse_model(body: Any) -> str | None:
    """The ``model`` field (checked first: a wrong model is a 404 whatever else is wrong)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_body")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid("model", "must be a string", model)
    return model


def parse_request(body: dict[str, Any], *, chat: bool, max_n: int) -> CompletionRequest:
    """Check every field of a (chat) completions body; raises :class:`ApiError` (400)."""
    for name, unused in _UNSUPPORTED.items():
        if body.get(name) not in unused:
            raise invalid(name, "is not supported by spot serve", body[name])
    prompts = (_messages(body.get("messages")),) if chat else _prompts(body.get("prompt"))
    n = _integer(body, "n", 1, low=1, high=max_n)
    if n * len(prompts) > max_n:
        raise invalid("n", f"n times the number of prompts must be at most {max_n}", n)
    return CompletionRequest(
        chat=chat,
        model=parse_model(body),
        prompts=prompts,
        max_tokens=_max_tokens(body, chat),
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, open_low=True),
        top_k=_top_k(body),
        n=n,
        seed=_seed(body),
        stop=_stop(body.get("stop")),
        stream=_flag(body, "stream"),
        include_usage=_include_usage(body.get("stream_options")),
        template_kwargs=_template_kwargs(body.get("chat_template_kwargs")),
    )


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise invalid("messages", "is required: a non-empty list of messages", value)
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, "must be an object with role and content", message)
        role = message.get("role")
        if role not in _ROLES:
            raise invalid(f"{where}.role", f"must be one of {', '.join(_ROLES)}", role)
        content = _content(message.get("content"), f"{where}.content")
        # templates know system, not OpenAI's newer name for it
        out.append({"role": "system" if role == "developer" else role, "content": content})
    return out


def _content(value: Any, where: str) -> str:
    """A string, or OpenAI's list of parts where every part is text (joined by newlines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        texts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise invalid(f"{where}[{i}]", "only text parts are supported", part)
            if not isinstance(part.get("text"), str):
                raise invalid(f"{where}[{i}].text", "must be a string", part.get("text"))
            texts.append(part["text"])
        return "\n".join(texts)
    raise invalid(where, "is required: a string or a list of text parts", value)


def _prompts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return tuple(value)
    if isinstance(value, list) and value and all(isinstance(p, int | list) for p in value):
        raise invalid("prompt", "token-id prompts are not supported; send text", show=False)
    raise invalid("prompt", "is required: a string or a non-empty list of strings", value)


def _max_tokens(body: dict[str, Any], chat: bool) -> int | None:
    # chat's newer name wins where both are given
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            return _integer(body, name, 0, low=1)
    return None if chat else COMPLETIONS_DEFAULT_MAX_TOKENS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(
    body: dict[str, Any], name: str, default: int, *, low: int, high: int | None = None
) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(name, f"must be an integer {bound}", value)
    return value


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float, *, open_low=False
) -> float:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        left = "(" if open_low else "["
        raise invalid(name, f"must be a number in {left}{low:g}, {high:g}]", value)
    return float(value)


def _top_k(body: dict[str, Any]) -> int:
    """vLLM's extension: 0 or -1 turn top-k filtering off."""
    value = body.get("top_k")
    if value is None:
        return 0
    if not _is_int(value) or value < -1:
        raise invalid("top_k", "must be an integer >= 0, or -1 (no top-k)", value)
    return max(value, 0)


def _seed(body: dict[str, Any]) -> int | None:
    value = body.get("seed")
    if value is None:
        return None
    if not _is_int(value) or not _SEED_RANGE[0] <= value < _SEED_RANGE[1]:
        raise invalid("seed", "must be an integer in [-2**63, 2**64)", value)
    return value


def _stop(value: Any) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value
    if stops is None:
        return ()
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise invalid("stop", "must be a non-empty string or a list of them", value)
    if len(stops) > MAX_STOP:
        raise invalid("stop", f"takes at most {MAX_STOP} strings", len(stops))
    return tuple(dict.fromkeys(stops))


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(name, "must be true or false", value)
    return bool(value)


def _include_usage(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise invalid("stream_options", "must be an object", value)
    flag = value.get("include_usage")
    if flag is not None and not isinstance(flag, bool):
        raise invalid("stream_options.include_usage", "must be true or false", flag)
    return bool(flag)


def _template_kwargs(value: Any) -> tuple[tuple[str, object], ...]:
    """vLLM's ``chat_template_kwargs`` (e.g. ``{"enable_thinking": false}`` for Qwen3)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise invalid("chat_template_kwargs", "must be an object", value)
    return tuple(value.items())
