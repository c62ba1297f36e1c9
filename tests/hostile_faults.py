"""Hostile fault kinds for tests/stub_server.py: servers and bytes worse than a flaky server.

Each kind takes the stub's full completion body (bytes) and answers with something the kit must
survive. `apply(kind, fault, request, body)` returns a response, or None for a kind it does not
know. Kinds:
  trickle        200 headers, then one JSON whitespace byte every `interval` s for `seconds`
                 (the gap between bytes stays under any per-read timeout; the request never ends)
  invalid_utf8   a completion whose content holds bytes that are not UTF-8 (\\xff\\xfe)
  lone_surrogate a completion whose content holds a lone surrogate (`\\ud800`, valid JSON)
  bad_usage      usage with wrong types (`"usage": {"prompt_tokens": "ten", ...}`) or, with
                 "negative": true, negative counts
  cut_body       Content-Length of the whole body, half of it sent, then the connection closed
  raw            `body` (a latin-1 string: any bytes) sent as a 200 application/json
  echo_key       a completion whose content repeats the request's Authorization key
  other_model    a completion answered by `model` (default "other-model")
  redirect       307 to `location` + the request's path (another origin: a second stub)
"""
from __future__ import annotations

import asyncio
import json

from aiohttp import web

KINDS = frozenset({"trickle", "invalid_utf8", "lone_surrogate", "bad_usage", "cut_body", "raw",
                   "echo_key", "other_model", "redirect"})


def _with_content(body: bytes, content: str) -> bytes:
    parsed = json.loads(body)
    for choice in parsed["choices"]:
        choice["message"]["content"] = content
    return json.dumps(parsed).encode()


async def trickle(request: web.Request, fault: dict) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    interval, seconds = float(fault.get("interval", 0.2)), float(fault.get("seconds", 60))
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    await response.write(b"{")
    while loop.time() < end:
        await asyncio.sleep(interval)
        await response.write(b" ")
    await response.write(b"}")
    return response


async def cut_body(request: web.Request, body: bytes) -> None:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Content-Length": str(len(body))})
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    await asyncio.sleep(0.05)
    request.transport.close()
    return None


async def apply(kind: str, fault: dict, request: web.Request,
                body: bytes) -> web.StreamResponse | None:
    if kind == "trickle":
        return await trickle(request, fault)
    if kind == "cut_body":
        return await cut_body(request, body)
    if kind == "redirect":
        return web.Response(status=307, headers={"Location": fault["location"] + request.path})
    if kind == "invalid_utf8":
        raw = _with_content(body, "@@BAD@@").replace(b"@@BAD@@", b"caf\xff\xfe \\\\boxed{1}")
    elif kind == "lone_surrogate":
        raw = _with_content(body, "x").replace(b'"content": "x"',
                                               b'"content": "half \\ud800 \\\\boxed{2}"')
    elif kind == "bad_usage":
        parsed = json.loads(body)
        parsed["usage"] = ({"prompt_tokens": -10, "completion_tokens": -5, "total_tokens": -15}
                           if fault.get("negative") else
                           {"prompt_tokens": "ten", "completion_tokens": [1], "total_tokens": {}})
        raw = json.dumps(parsed).encode()
    elif kind == "raw":
        raw = str(fault.get("body", "")).encode("latin-1")
    elif kind == "echo_key":
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        raw = _with_content(body, f"Your key is {key}. The answer is (A). \\boxed{{42}}")
    elif kind == "other_model":
        raw = json.dumps({**json.loads(body), "model": fault.get("model", "other-model")}).encode()
    else:
        return None
    return web.Response(body=raw, status=200, content_type="application/json")
