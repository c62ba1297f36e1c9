"""What a failed request means for the run (keeping credentials out of text: redact.py).

Three kinds of failure (after the openai SDK's own retries):
- UNREACHABLE: no server took the request (refused, reset or closed before any byte came back).
  Not the problem's fault: not counted against --max_attempts.
- COUNTED: the server took the request and it went wrong (5xx, 429 after retries, a timeout after
  the server accepted it, a body cut off mid-way, a malformed 200 body, too few choices, a reply
  from another model). Counted.
- FATAL: the run itself is misconfigured (401/403 bad key, 404 model or route not served). Every
  problem would fail the same way: the run stops at once and no attempt is counted.
- TOO_LONG: the prompt plus max_tokens exceed the server's context (a 400 "maximum context
  length"). Retrying cannot help: the problem is not retried in the run and no attempt is counted;
  the run says which problems do not fit and what to change.
"""
from __future__ import annotations

import re
import socket
import ssl
from urllib.parse import urlsplit

from collectkit.store.redact import (KEY_SHAPES, REDACTED, URL_USERINFO, Redactor,  # noqa: F401
                     redact_command, redact_url, shorten, url_secrets)

UNREACHABLE = "unreachable"
COUNTED = "counted"
FATAL = "fatal"
TOO_LONG = "too_long"
# How servers say a request exceeds the context: vLLM and OpenAI ("This model's maximum context
# length is 2048 tokens…", code context_length_exceeded), llama.cpp ("the request exceeds the
# available context size", type exceed_context_size_error).
CONTEXT_OVERFLOW = re.compile(r"maximum context length|context_length_exceeded|"
                              r"exceeds? the available context size|exceed_context_size",
                              re.IGNORECASE)

FATAL_STATUSES = {401: "the server refused the API key", 403: "the API key is not allowed here",
                  404: "the model or route is not served there"}
# Exceptions (by class name: the SDK vendors its own httpx) meaning the server took the request
# and then did not answer in time. The SDK reports refused and reset connections as timeouts too
# (its aiohttp transport maps every ClientConnectionError to ConnectTimeout), so the cause decides.
TIMEOUTS_AFTER_ACCEPT = frozenset({"ReadTimeout", "WriteTimeout", "SocketTimeoutError",
                                   "ServerTimeoutError"})
# ... and the server answered, then its body was cut off mid-way: an answer that failed.
CUT_OFF_ANSWER = frozenset({"ClientPayloadError", "ContentLengthError", "TransferEncodingError",
                            "ContentEncodingError"})


def kind_of(status: int | None, timed_out: bool = False) -> str:
    """The kind of a failure from its HTTP status (None: no response came back)."""
    if status is None:
        return COUNTED if timed_out else UNREACHABLE
    return FATAL if status in FATAL_STATUSES else COUNTED


def context_overflow(status: int | None, message: str) -> bool:
    """A 400 that says the request does not fit the context (not worth retrying)."""
    return status == 400 and bool(CONTEXT_OVERFLOW.search(message or ""))


def causes(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """The exception and what caused it, outermost first (as a traceback shows them)."""
    chain = [exc]
    while len(chain) < limit:
        last = chain[-1]
        following = last.__cause__ if last.__cause__ is not None else (
            None if last.__suppress_context__ else last.__context__)
        if following is None or following in chain:
            break
        chain.append(following)
    return chain


def timed_out_after_accept(exc: BaseException) -> bool:
    return any(type(e).__name__ in TIMEOUTS_AFTER_ACCEPT for e in causes(exc))


def answer_cut_off(exc: BaseException) -> bool:
    return any(type(e).__name__ in CUT_OFF_ANSWER for e in causes(exc))


def server_took_it(exc: BaseException) -> bool:
    """The server took the request (a timeout after it accepted it, or an answer cut off
    mid-way): a counted failure, and the endpoint is not down."""
    return timed_out_after_accept(exc) or answer_cut_off(exc)


def describe(exc: BaseException) -> str:
    """`Outer: message (Root: message)`: the SDK's words and what really happened."""
    root = causes(exc)[-1]
    text = f"{type(exc).__name__}: {exc}"
    if answer_cut_off(exc):
        text = "the answer was cut off mid-way: " + text
    text = text if root is exc else f"{text} ({type(root).__name__}: {root})"
    return " ".join(text.split())


def why_unreachable(exc: BaseException, url: str = "") -> str:
    """In a few words, why no server took a request: the name did not resolve, the port was
    refused, the connection was closed; the root cause's own words otherwise."""
    chain = causes(exc)
    host = next((getattr(e, "host", None) for e in chain if getattr(e, "host", None)), None)
    try:
        parts = urlsplit(url)
        host = host or parts.hostname
        where = f"{host}:{parts.port}" if host and parts.port else host or "the server"
    except ValueError:
        where = host or "the server"
    for e in chain:
        if isinstance(e, socket.gaierror) or "DNS" in type(e).__name__:
            return f"could not resolve host {host or where} (no network, or a mistyped host)"
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused at {where} (nothing listens there)"
        if type(e).__name__ == "ServerDisconnectedError":
            return f"{where} closed the connection before answering"
        if isinstance(e, ssl.SSLError) or "SSL" in type(e).__name__:
            return f"the TLS handshake with {where} failed ({e})"
    root = chain[-1]
    return " ".join(f"{type(root).__name__}: {root}".split())


def fatal_reason(status: int, message: str, base_url: str) -> str:
    return f"{FATAL_STATUSES[status]} ({message}) at {base_url}; no attempt was counted"
