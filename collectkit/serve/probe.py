"""GET /v1/models, blocking: is a server up, and what does it serve (the probe every room uses:
serve waits on it, collect checks endpoints with it)."""
from __future__ import annotations

import functools
import json
import ssl
import time

import httpx

PROBE_TIMEOUT_S = 2.0
MAX_MODELS_BYTES = 16 << 20


def probe_models(base_url: str, api_key: str | None = None,
                 timeout: float = PROBE_TIMEOUT_S) -> tuple[int | None, list[str]]:
    """(HTTP status or None if nothing answered, model ids) from GET /v1/models.

    `timeout` bounds the whole probe, not only the gap between bytes (a server trickling its
    answer is "nothing answered"). Redirects are followed (at most 3), and the key is never
    sent to another origin: httpx drops Authorization when a redirect leaves the origin."""
    status, entries = _probe(base_url, api_key, timeout)
    return status, [entry.get("id") for entry in entries]


def probe_listing(base_url: str, api_key: str | None = None,
                  timeout: float = PROBE_TIMEOUT_S) -> list[tuple[str, str | None]] | None:
    """listing() for blocking callers: (id, root) per listed model, None if none is listed."""
    status, entries = _probe(base_url, api_key, timeout)
    if status != 200:
        return None
    return [(entry["id"], entry.get("root") if isinstance(entry.get("root"), str) else None)
            for entry in entries if isinstance(entry.get("id"), str)]


def _probe(base_url: str, api_key: str | None, timeout: float) -> tuple[int | None, list[dict]]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=3,
                          trust_env=False, verify=_tls()) as client, \
                client.stream("GET", base_url.rstrip("/") + "/models", headers=headers) as reply:
            body = bytearray()
            for chunk in reply.iter_bytes():
                body += chunk
                if time.monotonic() > deadline or len(body) > MAX_MODELS_BYTES:
                    return None, []
            if reply.status_code != 200:
                return reply.status_code, []
            return 200, [m for m in json.loads(bytes(body)).get("data", [])
                         if isinstance(m, dict)]
    except (httpx.HTTPError, OSError, ValueError, AttributeError, TypeError):
        return None, []


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every probe (building one reads the CA bundle: ~20 ms)."""
    return ssl.create_default_context()


def served_models(base_url: str, api_key: str | None = None,
                  timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """Model ids listed by GET {base_url}/models, or [] if nothing answers there (blocking)."""
    return probe_models(base_url, api_key, timeout)[1]
