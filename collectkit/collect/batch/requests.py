"""The requests of a batch: the JSONL an OpenAI-style batch API (or `vllm run-batch -i`) reads,
with the body the online path would send."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from collectkit.store import jsonl
from collectkit.tasks import protocols
from collectkit.store import append as store
from collectkit.collect.batch.output import custom_id
from collectkit.collect.settings import Settings
from collectkit.collect.client import LocalLLM, RemoteLLM, sampling_params
from collectkit.tasks.load import Problem

ENDPOINT = "/v1/chat/completions"


def request_body(settings: Settings) -> dict[str, Any]:
    """model + the sampling parameters the online path would send (same filtering)."""
    kind = LocalLLM if settings.api_mode == "local" else RemoteLLM
    # split_params reads only the model id: the online path's filtering without a client
    params, extra, _dropped = kind.split_params(SimpleNamespace(model=settings.model),
                                                sampling_params(settings))
    return {"model": settings.model, **params, **extra}


def batch_lines(problems: list[Problem], settings: Settings, n_per_line: bool) -> list[dict]:
    body, k = request_body(settings), settings.k_responses
    lines = []
    for problem in problems:
        messages = protocols.messages(problem, settings.protocol)
        if n_per_line or k == 1:
            samples = [(0, {"n": k} if k > 1 else {})]
        else:
            seed = body.get("seed")
            samples = [(i, {} if seed is None else {"seed": seed + i}) for i in range(k)]
        for first, extra in samples:
            lines.append({"custom_id": custom_id(problem.unique_id, first), "method": "POST",
                          "url": ENDPOINT, "body": {**body, "messages": messages, **extra}})
    return lines


def write_jsonl(lines: list[dict]) -> bytes:
    return "".join(map(jsonl.dumps_line, lines)).encode()


def write_requests_file(settings: Settings, problems: list[Problem], path: str | Path,
                        n_per_line: bool = True) -> int:
    """The batch JSONL for `vllm run-batch -i` (or any batch API); returns its line count."""
    lines = batch_lines(problems, settings, n_per_line)
    store.write_text_atomic(Path(path), write_jsonl(lines).decode())
    return len(lines)
