"""Protocols: a benchmark's contract in one place — how a problem is asked, how its answer is read,
and the sampling its authors recommend. The manifest and every results row record the protocol's
name and a hash of its template; the manifest also holds the template text.

| name                 | dataset  | prompt                                         | extraction             |
|----------------------|----------|------------------------------------------------|------------------------|
| mmlu_pro_official    | mmlu_pro | the authors' 5-shot CoT prompt (default)       | official cascade, A-J  |
| mmlu_pro_zero_shot   | mmlu_pro | zero-shot, options "(A) …"                     | cascade within options |
| boxed                | math500  | the kit's zero-shot prompt (default)           | last \\boxed{}, phrase  |
| qwen_boxed           | math500  | Qwen2.5-Math's system prompt, problem as user  | last \\boxed{}, phrase  |
| r1                   | math500  | DeepSeek-R1: no system prompt; T=0.6, top_p .95 | last \\boxed{}, phrase  |
| json_answer          | math500  | asks for {"reasoning", "answer"} (ZeroEval)    | JSON field, then box   |

Adding a protocol: one entry in PROTOCOLS (prompt builder in prompts.py) and a test.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from . import prompts
from .config import ConfigError, Settings
from .extraction import extract_math_answer, extract_mcq_letter, extract_official_letter
from .problems import DATASETS, Problem, dataset_names

Extractor = Callable[[Any, int, Any, str], Any]  # (text, n_options, finish_reason, match)


class ProtocolError(ConfigError):
    """An unknown protocol name, or one that does not fit the run's datasets."""


@dataclass(frozen=True)
class Protocol:
    name: str
    dataset: str
    build_messages: Callable[[Problem], list[dict[str, str]]]
    extract: Extractor
    template: str
    sampling: Mapping[str, Any] = field(default_factory=dict)
    few_shot: bool = False  # its prompt embeds the bundled validation examples

    @property
    def template_hash(self) -> str:
        return _template_hash(self.name)

    def manifest_entry(self) -> dict[str, Any]:
        return {"name": self.name, "hash": self.template_hash, "template": self.template,
                "sampling": dict(self.sampling)}


def _official(text, n_options, finish_reason, match):
    return extract_official_letter(text)


def _within_options(text, n_options, finish_reason, match):
    return extract_mcq_letter(text, n_options, match)


def _boxed(text, n_options, finish_reason, match):
    return extract_math_answer(text, finish_reason)


def _json_then_boxed(text, n_options, finish_reason, match):
    return extract_math_answer(text, finish_reason, json_field=True)


PROTOCOLS = {p.name: p for p in (
    Protocol("mmlu_pro_official", "mmlu_pro", prompts.mmlu_pro_official_messages, _official,
             prompts.OFFICIAL_TEMPLATE, few_shot=True),
    Protocol("mmlu_pro_zero_shot", "mmlu_pro", prompts.build_messages, _within_options,
             prompts.MCQ_TEMPLATE),
    Protocol("boxed", "math500", prompts.build_messages, _boxed, prompts.OPEN_ENDED_TEMPLATE),
    Protocol("qwen_boxed", "math500", prompts.qwen_boxed_messages, _boxed,
             f"system: {prompts.QWEN_SYSTEM}\nuser: {{question}}"),
    Protocol("r1", "math500", prompts.r1_messages, _boxed, prompts.R1_TEMPLATE,
             sampling={"temperature": 0.6, "top_p": 0.95}),
    Protocol("json_answer", "math500", prompts.json_answer_messages, _json_then_boxed,
             prompts.JSON_TEMPLATE),
)}
DEFAULTS = {"mmlu_pro": "mmlu_pro_official", "math500": "boxed"}
# Rows collected before protocols were recorded were asked with the zero-shot prompts.
LEGACY = {"mmlu_pro": "mmlu_pro_zero_shot", "math500": "boxed"}


@lru_cache(maxsize=None)
def _template_hash(name: str) -> str:
    protocol = PROTOCOLS[name]
    text = protocol.template + (prompts.validation_digest() if protocol.few_shot else "")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def get(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}: choose from "
                            f"{', '.join(PROTOCOLS)}") from None


def resolve(spec: str | None, datasets: Iterable[str]) -> dict[str, Protocol]:
    """dataset -> Protocol for a run: `spec` names one protocol per dataset, comma-separated
    (e.g. "r1" or "mmlu_pro_zero_shot,qwen_boxed"); datasets not named get their default."""
    datasets = tuple(datasets)
    chosen: dict[str, Protocol] = {}
    for name in filter(None, (part.strip() for part in (spec or "").split(","))):
        protocol = get(name)
        if protocol.dataset not in datasets:
            raise ProtocolError(f"protocol {name!r} is for {protocol.dataset}, which this run "
                                f"does not collect ({', '.join(datasets)})")
        if protocol.dataset in chosen:
            raise ProtocolError(f"two protocols for {protocol.dataset}: "
                                f"{chosen[protocol.dataset].name} and {name}")
        chosen[protocol.dataset] = protocol
    return {dataset: chosen.get(dataset) or PROTOCOLS[DEFAULTS[dataset]] for dataset in datasets}


@lru_cache(maxsize=64)
def _resolved(spec: str, datasets: tuple[str, ...]) -> dict[str, Protocol]:
    return resolve(spec, datasets)


def for_settings(settings: Settings) -> dict[str, Protocol]:
    """dataset -> Protocol for a run's settings (`protocol` and `dataset`)."""
    return _resolved(settings.protocol, dataset_names(settings.dataset))


def messages(problem: Problem, spec: str = "") -> list[dict[str, str]]:
    """The messages that ask `problem` under the protocol `spec` names for its dataset."""
    return _resolved(spec, DATASETS)[problem.dataset].build_messages(problem)


def sampling_defaults(resolved: Mapping[str, Protocol]) -> dict[str, Any]:
    """The recommended sampling of the run's protocols (used for flags the user did not give)."""
    merged: dict[str, Any] = {}
    for protocol in resolved.values():
        merged.update(protocol.sampling)
    return merged


def with_recommended_sampling(settings: Settings, given: Mapping[str, Any] = {}) -> Settings:
    """`settings` with its protocols' recommended sampling (e.g. r1: temperature 0.6, top_p
    0.95) for each value the user left at the kit's default and did not pass in `given`."""
    defaults = Settings()
    recommended = sampling_defaults(for_settings(settings))
    changes = {name: value for name, value in recommended.items()
               if given.get(name) is None and getattr(settings, name) == getattr(defaults, name)}
    return settings.replace(**changes) if changes else settings


def signature(resolved: Mapping[str, Protocol]) -> dict[str, str]:
    """For the run signature: a resumed run must ask the same way."""
    return {"protocols": ",".join(f"{p.name}@{p.template_hash}"
                                  for _, p in sorted(resolved.items()))}


def manifest_entries(resolved: Mapping[str, Protocol]) -> dict[str, Any]:
    return {dataset: protocol.manifest_entry() for dataset, protocol in sorted(resolved.items())}


def _row_dataset(row: Mapping[str, Any]) -> str:
    return "mmlu_pro" if row.get("is_mcq", row.get("dataset") == "mmlu_pro") else "math500"


def recorded_name(row: Mapping[str, Any]) -> str | None:
    """The protocol name a results row records: its `protocol` field, or its dataset's entry in
    the `sampling` signature every row carries ("boxed@<hash>,mmlu_pro_official@<hash>")."""
    if row.get("protocol"):
        return str(row["protocol"])
    sampling = row.get("sampling")
    listed = sampling.get("protocols") if isinstance(sampling, Mapping) else None
    for entry in str(listed or "").split(","):
        name = entry.split("@", 1)[0]
        if name in PROTOCOLS and PROTOCOLS[name].dataset == _row_dataset(row):
            return name
    return None


def for_row(row: Mapping[str, Any]) -> Protocol:
    """The protocol a results row was collected under (rows without one: the legacy prompts)."""
    name = recorded_name(row)
    return get(name) if name else PROTOCOLS[LEGACY[_row_dataset(row)]]
