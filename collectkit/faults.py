"""What a failed request means for the run, and keeping credentials out of everything written.

Three kinds of failure (after the openai SDK's own retries):
- UNREACHABLE: no server took the request (refused, reset or closed before any byte came back).
  Not the problem's fault: not counted against --max_attempts.
- COUNTED: the server took the request and it went wrong (5xx, 429 after retries, a timeout after
  the server accepted it, a malformed 200 body, too few choices). Counted.
- FATAL: the run itself is misconfigured (401/403 bad key, 404 model or route not served). Every
  problem would fail the same way: the run stops at once and no attempt is counted.
- TOO_LONG: the prompt plus max_tokens exceed the server's context (a 400 "maximum context
  length"). Retrying cannot help: the problem is not retried in the run and no attempt is counted;
  the run says which problems do not fit and what to change.
"""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit, parse_qsl

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
REDACTED = "***"
# Shapes of keys worth hiding even when they are not the configured one (a server's echo).
KEY_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{8,}|AIza[A-Za-z0-9_\-]{20,})|(?<=Bearer )\S+")
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def kind_of(status: int | None, timed_out: bool = False) -> str:
    """The kind of a failure from its HTTP status (None: no response came back)."""
    if status is None:
        return COUNTED if timed_out else UNREACHABLE
    return FATAL if status in FATAL_STATUSES else COUNTED


def context_overflow(status: int | None, message: str) -> bool:
    """A 400 that says the request does not fit the context (not worth retrying)."""
    return status == 400 and bool(CONTEXT_OVERFLOW.search(message or ""))


def causes(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """The exception and what caused it, outermost first."""
    chain = [exc]
    while len(chain) < limit and (chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def timed_out_after_accept(exc: BaseException) -> bool:
    return any(type(e).__name__ in TIMEOUTS_AFTER_ACCEPT for e in causes(exc))


def describe(exc: BaseException) -> str:
    """`Outer: message (Root: message)`: the SDK's words and what really happened."""
    root = causes(exc)[-1]
    text = f"{type(exc).__name__}: {exc}"
    return text if root is exc else f"{text} ({type(root).__name__}: {root})"


def fatal_reason(status: int, message: str, base_url: str) -> str:
    return f"{FATAL_STATUSES[status]} ({message}) at {base_url}; no attempt was counted"


def redact_url(url: str) -> str:
    """The URL without user:password@ and with query values hidden (?key=… is a common place)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return URL_USERINFO.sub(REDACTED + "@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{name}={REDACTED}" for name, _ in parse_qsl(parts.query,
                                                                    keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [value for _, value in parse_qsl(parts.query)]
    if parts.password:
        found.append(parts.password)
    if parts.username:
        found.append(parts.username)
    return found


class Redactor:
    """Replaces the given secrets (and anything shaped like an API key) in text before it is
    written: error rows, manifests, log lines."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Very short values ("EMPTY", "x") would blank out ordinary words; they guard nothing.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6 and s != "EMPTY"},
                              key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return URL_USERINFO.sub(REDACTED + "@", KEY_SHAPES.sub(REDACTED, text))
