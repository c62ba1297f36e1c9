"""Token logprobs of a response, packed into one compact JSON field and read back.

A response collected with `--logprobs N` carries `"logprobs"`:

    {"format": "f32le-b64", "n_tokens": T, "tokens": [T sampled token strings],
     "logprob": base64 of T little-endian float32,
     "top_n": N, "top_tokens": [T lists of N strings], "top_logprob": base64 of T×N float32}

(`top_*` only when N > 0; a position with fewer than N alternatives is padded with "" and NaN).
Base64 float32 costs 5.3 bytes per number where the server's JSON spends ~25–60; the field stays
inside the results row, so it is written, resumed and read exactly like the rest of the row.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "f32le-b64"
_DTYPE = np.dtype("<f4")


def _encode(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype=_DTYPE).tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=_DTYPE).astype(np.float64)


def pack(tokens: list[str], logprob: list[float], top: list[list[tuple[str, float]]] | None = None,
         top_n: int = 0) -> dict[str, Any]:
    """The packed field for T sampled tokens (and up to `top_n` alternatives at each)."""
    record: dict[str, Any] = {"format": FORMAT, "n_tokens": len(tokens), "tokens": list(tokens),
                              "logprob": _encode(np.array(logprob, dtype=np.float64))}
    if top_n > 0:
        top = top or [[] for _ in tokens]
        names = [[name for name, _ in (alts[:top_n] + [("", math.nan)] * top_n)[:top_n]]
                 for alts in top]
        values = np.array([[value for _, value in (alts[:top_n] + [("", math.nan)] * top_n)[:top_n]]
                           for alts in top], dtype=np.float64).reshape(len(tokens), top_n)
        record.update(top_n=top_n, top_tokens=names, top_logprob=_encode(values.ravel()))
    return record


def from_choice(choice: Any, top_n: int | None = None) -> dict[str, Any] | None:
    """The packed logprobs of one parsed choice (None when the server sent none). `top_n`: the
    alternatives to keep per token (default: as many as the server sent)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if content is None:
        return None
    tokens = [item.token for item in content]
    values = [item.logprob for item in content]
    top = [[(alt.token, alt.logprob) for alt in (item.top_logprobs or [])] for item in content]
    if top_n is None:
        top_n = max((len(alts) for alts in top), default=0)
    return pack(tokens, values, top, top_n)


@dataclass(frozen=True)
class TokenLogprobs:
    tokens: list[str]
    logprob: np.ndarray  # (T,)
    top_tokens: list[list[str]] | None = None
    top_logprob: np.ndarray | None = None  # (T, N)


def unpack(record: dict[str, Any] | None) -> TokenLogprobs | None:
    """The arrays of a packed field (None for None)."""
    if not record:
        return None
    if record.get("format") != FORMAT:
        raise ValueError(f"unknown logprobs format {record.get('format')!r}")
    logprob = _decode(record["logprob"])
    top = None
    if record.get("top_n"):
        top = _decode(record["top_logprob"]).reshape(len(logprob), int(record["top_n"]))
    return TokenLogprobs(list(record["tokens"]), logprob, record.get("top_tokens"), top)


def mean_logprob(record: dict[str, Any] | None) -> float:
    """The response's confidence: the mean logprob of its sampled tokens (NaN without any).
    exp() of it is the geometric-mean token probability."""
    if not record or not record.get("n_tokens"):
        return math.nan
    values = _decode(record["logprob"])
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan
