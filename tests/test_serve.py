"""`spot serve` as a faithful OpenAI-compatible server: the official SDK and raw HTTP against
real `spot serve --model toy` processes on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

SPOT = [sys.executable, "-m", "spot", "serve", "--model", "toy", "--port", "0"]
VARIED = [{"role": "user", "content": "K"}]  # the toy's answers to this vary with the seed
ARITH = [{"role": "user", "content": "Compute: 2 + 3"}]  # ... and to this they do not
HUGE = {
    "model": "toy",
    "prompt": "<|im_start|>user\nCompute: "
    + " + ".join(["(11 * 12 - 9 * 7)"] * 12)
    + "<|im_end|>\n<|im_start|>assistant\n",
    "max_tokens": 1_000_000,
    "temperature": 1.0,
    "seed": 0,
}
"""A question far longer than any the toy model saw, which it works through (or rambles on)
for most of its context: seconds of work for one sequence on this CPU."""

LONG = "<|im_start|>user\nCompute: (3 + 4) * 5 - 2 * 11 + 7 * 8<|im_end|>\n<|im_start|>assistant\n"
"""A raw prompt the toy model answers at length (a chat turn, rendered by hand)."""


def _start(flags: list[str], log: Path) -> tuple[subprocess.Popen, Callable[[], str]]:
    proc = subprocess.Popen(SPOT + flags, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)

    def url() -> str:
        line = proc.stdout.readline()
        assert line.startswith("serving toy at http://127.0.0.1:"), log.read_text()
        return line.split(" at ")[1].strip()

    return proc, url


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """``main`` with the defaults; ``tight`` with one sequence per batch and a queue of 2."""
    logs = tmp_path_factory.mktemp("serve")
    started = {  # both load the model at the same time
        "main": _start([], logs / "main.log"),
        "tight": _start(["--batch-size", "1", "--max-queue", "2", "--max-n", "2"], logs / "t.log"),
    }
    try:  # one that fails to start must not leave the other running
        urls = {name: url() for name, (_, url) in started.items()}
        urls["pids"] = {name: proc.pid for name, (proc, _) in started.items()}
        yield urls
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait(10)


@pytest.fixture(scope="module")
def client(servers) -> openai.OpenAI:
    return openai.OpenAI(base_url=servers["main"], api_key="x", max_retries=0, timeout=60)


def call(base: str, method: str, path: str, body=None, *, raw: bytes | None = None, timeout=60):
    """``(status, headers, parsed JSON body)`` of one plain HTTP exchange."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), json.loads(payload) if payload else None


def chat(client: openai.OpenAI, messages=VARIED, **kw):
    return client.chat.completions.create(model="toy", messages=messages, **kw)


def texts(response) -> list[str]:
    return [c.message.content if hasattr(c, "message") else c.text for c in response.choices]


# 1. n


def test_n_gives_one_seeded_choice_each(client):
    first = chat(client, n=2, seed=11, temperature=1.0, max_tokens=24)
    assert [c.index for c in first.choices] == [0, 1]
    assert texts(first)[0] != texts(first)[1]  # each choice its own seed
    assert texts(chat(client, n=2, seed=11, temperature=1.0, max_tokens=24)) == texts(first)
    # choice 0 keeps the request's seed: n=1 gives the same text
    assert texts(chat(client, seed=11, temperature=1.0, max_tokens=24)) == texts(first)[:1]
    done = client.completions.create(model="toy", prompt=LONG, n=2, seed=3, max_tokens=16)
    assert len(done.choices) == 2 and texts(done)[0] != texts(done)[1]
    assert done.usage.completion_tokens == 32


# 2. stop


def test_stop_strings_end_the_text_before_them(client):
    full = chat(client, ARITH, temperature=0)
    whole = texts(full)[0]
    assert "final" in whole and "=" in whole
    for stop, cut in ((["final"], "final"), ("=", "="), (["nowhere", "answer"], "answer")):
        reply = chat(client, ARITH, temperature=0, stop=stop)
        assert reply.choices[0].message.content == whole[: whole.index(cut)]
        assert reply.choices[0].finish_reason == "stop"
        # generation ended there, rather than running on and being cut afterwards
        assert reply.usage.completion_tokens < full.usage.completion_tokens
    assert texts(chat(client, ARITH, temperature=0, stop="not in it")) == [whole]
    prompt = "Compute: 1 + 1"
    full = client.completions.create(model="toy", prompt=prompt, max_tokens=40, temperature=0)
    cut = client.completions.create(
        model="toy", prompt=prompt, max_tokens=40, temperature=0, stop=["Therefore"], n=2
    )
    expected = texts(full)[0][: texts(full)[0].index("Therefore")]
    assert texts(cut) == [expected, expected]
    assert [c.finish_reason for c in cut.choices] == ["stop", "stop"]


# 3. streaming


def test_streamed_chunks_join_to_the_plain_answer(client):
    kw = dict(n=2, seed=5, temperature=1.0, max_tokens=24)
    plain = chat(client, **kw)
    joined, finish, usage = ["", ""], [None, None], None
    for chunk in chat(client, stream=True, stream_options={"include_usage": True}, **kw):
        assert chunk.object == "chat.completion.chunk" and chunk.model == "toy"
        usage = chunk.usage or usage
        for c in chunk.choices:
            joined[c.index] += c.delta.content or ""
            finish[c.index] = c.finish_reason or finish[c.index]
    assert joined == texts(plain) and finish == [c.finish_reason for c in plain.choices]
    assert usage.completion_tokens == plain.usage.completion_tokens

    kw = dict(model="toy", prompt=LONG, n=2, seed=9, max_tokens=12)
    plain = client.completions.create(**kw)
    joined, finish = ["", ""], [None, None]
    for chunk in client.completions.create(stream=True, **kw):
        for c in chunk.choices:
            joined[c.index] += c.text
            finish[c.index] = c.finish_reason or finish[c.index]
    assert joined == texts(plain) and finish == ["length", "length"]


# 4. model names


def test_only_the_served_model_is_known(client):
    assert [m.id for m in client.models.list()] == ["toy"]
    assert client.models.retrieve("toy").id == "toy"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=ARITH)
    assert info.value.body == {
        "message": info.value.body["message"],
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert "gpt-4o" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="toy2", prompt="hi")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


# 5. seeds


def test_without_a_seed_each_request_samples_afresh(client):
    answers = {texts(chat(client, temperature=1.0, max_tokens=24))[0] for _ in range(5)}
    assert len(answers) >= 2  # five equal draws from the toy's spread answers: ~never


# 6. limits: context, body size


def test_prompt_over_the_context_is_400_and_max_tokens_is_clamped(client):
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, [{"role": "user", "content": "x" * 2000}])
    assert info.value.code == "context_length_exceeded" and "1024" in info.value.message
    with pytest.raises(openai.BadRequestError, match="prompt"):
        client.completions.create(model="toy", prompt="x" * 1024)
    greedy = texts(chat(client, ARITH, temperature=0, max_tokens=200))
    assert texts(chat(client, ARITH, temperature=0, max_tokens=10**9)) == greedy


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_too_large_bodies_get_413_unread(client, servers):
    with pytest.raises(openai.APIStatusError) as info:
        chat(client, [{"role": "user", "content": "x" * 100_000}])
    assert info.value.status_code == 413 and info.value.body["code"] == "request_too_large"
    before = _rss_mb(servers["pids"]["main"])
    for _ in range(3):  # a 1 MB prompt costs the server nothing
        body = json.dumps({"model": "toy", "messages": [{"role": "user", "content": "x" * 10**6}]})
        status, _, error = call(servers["main"], "POST", "/v1/chat/completions", raw=body.encode())
        assert status == 413 and error["error"]["code"] == "request_too_large"
    assert _rss_mb(servers["pids"]["main"]) - before < 50
    # a 50 MB body announced but never sent is refused at once: nothing waits for it
    u = urlsplit(servers["main"])
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")
    # a body of unannounced length is cut off at the limit
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):
            s.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")


# 8. validation


BAD_CHAT = [
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        "messages[0].content[0]",
    ),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"max_completion_tokens": 2.5}, "max_completion_tokens"),
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -2}, "top_k"),
    ({"n": 0}, "n"),
    ({"n": 17}, "n"),
    ({"seed": "1"}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": 2**80}, "seed"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": 7}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"stream": "yes"}, "stream"),
    ({"logprobs": True}, "logprobs"),
    ({"repetition_penalty": 1.3}, "repetition_penalty"),  # issue 20 item 16: was a silent 200
    ({"min_p": 0.1}, "min_p"),
    ({"min_tokens": 8}, "min_tokens"),
]
BAD_COMPLETIONS = [
    ({"prompt": None}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": ["a", 2]}, "prompt"),
    ({"prompt": ["a"] * 9, "n": 2}, "n"),
    ({"echo": True}, "echo"),
]


@pytest.mark.parametrize("fields,param", BAD_CHAT)
def test_invalid_chat_fields_are_400_naming_them(client, fields, param):
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, ARITH, max_tokens=4, extra_body=fields)
    assert info.value.body["param"] == param and info.value.body["message"].startswith(f"{param}:")


@pytest.mark.parametrize("fields,param", BAD_COMPLETIONS)
def test_invalid_completion_fields_are_400_naming_them(client, fields, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="toy", prompt="hi", max_tokens=4, extra_body=fields)
    assert info.value.body["param"] == param


def test_accepted_forms(client):
    parts = [{"role": "developer", "content": [{"type": "text", "text": "Compute: 2 + 3"}]}]
    reply = chat(client, parts, temperature=0, max_tokens=4, extra_body={"whatever": 1})
    assert reply.choices[0].finish_reason == "length"
    assert chat(client, ARITH, max_tokens=2, extra_body={"top_k": -1}).choices
    neutral = {"repetition_penalty": 1.0, "min_p": 0.0, "min_tokens": 0}  # the values of "off"
    assert chat(client, ARITH, max_tokens=2, extra_body=neutral).choices
    many = client.completions.create(model="toy", prompt=["a", "b"], n=2, max_tokens=2)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]


def test_malformed_requests_get_an_answer_not_a_dropped_connection(servers):
    base = servers["main"]
    for raw in (b"{not json", b"[]", b"\xff\xfe", b"[" * 50_000):
        status, _, body = call(base, "POST", "/v1/chat/completions", raw=raw)
        assert status == 400 and set(body["error"]) == {"message", "type", "param", "code"}
    status, _, body = call(
        base, "POST", "/v1/chat/completions", {"model": "toy", "messages": [{"content": "hi"}]}
    )
    assert status == 400 and "role" in body["error"]["message"]
    status, headers, body = call(base, "GET", "/v1/chat/completions")
    assert status == 405 and "POST" in headers["Allow"] and body["error"]["message"]
    status, _, body = call(base, "DELETE", "/v1/models")
    assert status == 405
    status, _, body = call(base, "POST", "/v1/nowhere", {})
    assert status == 404 and "/v1/nowhere" in body["error"]["message"]


# 6. queue bound and cancellation; 7. many connections


def _send(base: str, path: str, body: dict) -> socket.socket:
    """A request whose answer we never read (the socket is the client)."""
    u = urlsplit(base)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
    s.sendall(head.encode() + data)
    return s


def _until(base: str, **want: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        load = call(base, "GET", "/health")[2]
        if all(load[k] == v for k, v in want.items()):
            return
        assert time.monotonic() < deadline, f"{load}, waited for {want}"
        time.sleep(0.02)


def test_clients_that_leave_free_the_worker_and_a_full_queue_is_429(servers):
    base = servers["tight"]
    running = _send(base, "/v1/completions", HUGE)
    _until(base, running=1)
    queued = _send(base, "/v1/completions", HUGE)
    _until(base, running=1, waiting=1)
    busy = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:  # the queue holds 2 sequences
        busy.completions.create(model="toy", prompt=LONG, max_tokens=2)
    assert info.value.response.headers["retry-after"] == "1"
    queued.close()
    _until(base, running=1, waiting=0)  # the waiting job is dropped
    running.close()
    _until(base, running=0, waiting=0)  # the running one ends mid-generation
    streamed = _send(base, "/v1/chat/completions", {**HUGE, "messages": VARIED, "stream": True})
    assert streamed.recv(200).startswith(b"HTTP/1.1 200")  # the stream has begun
    _until(base, running=1)
    streamed.close()
    _until(base, running=0, waiting=0)
    # the huge jobs are gone (above), so this is served at once; had they stayed, it would
    # wait minutes behind them, and the client gives up (a hang guard, not a speed target)
    answer = busy.with_options(timeout=60).completions.create(
        model="toy", prompt=LONG, max_tokens=4
    )
    assert answer.choices


def test_slow_senders_cannot_pile_up_bodies(servers):
    base = servers["tight"]
    u = urlsplit(base)
    slow = [socket.create_connection((u.hostname, u.port), timeout=10) for _ in range(2)]
    for s in slow:  # half a body each, then silence: both are being read
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    time.sleep(0.3)
    busy = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        busy.completions.create(model="toy", prompt=LONG, max_tokens=2)
    for s in slow:
        s.close()
    deadline = time.monotonic() + 5
    while True:  # their places come back once the server sees them gone
        try:
            assert busy.completions.create(model="toy", prompt=LONG, max_tokens=2).choices
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_200_concurrent_requests_all_get_an_answer(servers):
    base, statuses, failures = servers["main"], [], []
    gate = threading.Barrier(200)
    body = {"model": "toy", "prompt": "zz", "max_tokens": 8, "seed": 1}
    alone = call(base, "POST", "/v1/completions", body)[2]["choices"][0]["text"]

    def one() -> None:
        gate.wait()
        try:
            status, _, answer = call(base, "POST", "/v1/completions", body)
            statuses.append(status)
            if status == 200:
                assert answer["choices"][0]["text"] == alone  # batching changes nothing
        except Exception as e:  # a reset, a timeout or a wrong answer
            failures.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == [] and len(statuses) == 200
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 100
