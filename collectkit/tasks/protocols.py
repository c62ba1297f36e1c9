"""Protocols: a benchmark's contract in one place — how a problem is asked, how its answer is read,
and the sampling its authors recommend. The manifest and every results row record the protocol's
name and a hash of its template; the manifest also holds the template text.

| name                 | for          | prompt                                       | extraction             |
|----------------------|--------------|----------------------------------------------|------------------------|
| mmlu_pro_official    | mmlu_pro     | the authors' 5-shot CoT prompt (its default) | official cascade, A-J  |
| mmlu_pro_zero_shot   | any MCQ      | zero-shot, options "(A) …"                   | cascade within options |
| multiple_choice      | any MCQ      | the same prompt (default: GPQA, own files)   | stated letter (1)      |
| boxed                | any open     | the kit's zero-shot prompt (default)         | last \\boxed{}, phrase  |
| qwen_boxed           | any open     | Qwen2.5-Math's system prompt, problem as user | last \\boxed{}, phrase  |
| r1                   | any open     | DeepSeek-R1: no system prompt; T=0.6, top_p .95 | last \\boxed{}, phrase |
| json_answer          | any open     | asks for {"reasoning", "answer"} (ZeroEval)  | JSON field, then box   |

(1) choice_extraction.py: the letter the last answer statement names ("Answer: D", "**Final
Answer:** C) …"), else a last line starting with an option's marker; never a guess.

A protocol belongs to a family — multiple choice ("mcq") or open-ended ("open") — never to a
benchmark's name, unless it is one benchmark's own prompt (`only`). Each dataset of a run gets
one protocol per family it has (a "slot"): its default, or the one `--protocol` names.

Adding a protocol: one entry in PROTOCOLS (prompt builder in prompts.py) and a test.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from collectkit.tasks import prompts
from collectkit.tasks.input_checks import ConfigError
from collectkit.tasks.choice_extraction import extract_choice_letter
from collectkit.tasks.extraction import extract_math_answer, extract_mcq_letter, extract_official_letter
from collectkit.tasks.load import DATASETS, Problem
from collectkit.tasks.base import Benchmark
from collectkit.tasks.registry import REGISTRY, benchmarks, families, family_of

if TYPE_CHECKING:  # a protocol reads a run's settings; it never builds them
    from collectkit.collect.settings import Settings

Extractor = Callable[[Any, int, Any, str], Any]  # (text, n_options, finish_reason, match)
FALLBACK_DEFAULTS = {"mcq": "multiple_choice", "open": "boxed"}  # datasets outside the registry
FAMILY_WORDS = {"mcq": "multiple-choice problems", "open": "open-ended problems"}


class ProtocolError(ConfigError):
    """An unknown protocol name, or one that does not fit the run's datasets."""


@dataclass(frozen=True)
class Protocol:
    name: str
    family: str  # "mcq" (asked with options) or "open"
    build_messages: Callable[[Problem], list[dict[str, str]]]
    extract: Extractor
    template: str
    sampling: Mapping[str, Any] = field(default_factory=dict)
    few_shot: bool = False  # its prompt embeds the bundled validation examples
    only: tuple[str, ...] = ()  # the datasets it fits (empty: any of its family)
    hash_salt: str = ""  # tells apart protocols sharing a template

    @property
    def scope(self) -> str:
        return ", ".join(self.only) if self.only else FAMILY_WORDS[self.family]

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


def _stated_choice(text, n_options, finish_reason, match):
    return extract_choice_letter(text, n_options, match)


def _boxed(text, n_options, finish_reason, match):
    return extract_math_answer(text, finish_reason)


def _json_then_boxed(text, n_options, finish_reason, match):
    return extract_math_answer(text, finish_reason, json_field=True)


PROTOCOLS = {p.name: p for p in (
    Protocol("mmlu_pro_official", "mcq", prompts.mmlu_pro_official_messages, _official,
             prompts.OFFICIAL_TEMPLATE, few_shot=True, only=("mmlu_pro",)),
    Protocol("mmlu_pro_zero_shot", "mcq", prompts.build_messages, _within_options,
             prompts.MCQ_TEMPLATE),
    Protocol("multiple_choice", "mcq", prompts.build_messages, _stated_choice,
             prompts.MCQ_TEMPLATE, hash_salt="multiple_choice"),
    Protocol("boxed", "open", prompts.build_messages, _boxed, prompts.OPEN_ENDED_TEMPLATE),
    Protocol("qwen_boxed", "open", prompts.qwen_boxed_messages, _boxed,
             f"system: {prompts.QWEN_SYSTEM}\nuser: {{question}}"),
    Protocol("r1", "open", prompts.r1_messages, _boxed, prompts.R1_TEMPLATE,
             sampling={"temperature": 0.6, "top_p": 0.95}),
    Protocol("json_answer", "open", prompts.json_answer_messages, _json_then_boxed,
             prompts.JSON_TEMPLATE),
)}
DEFAULTS = {name: b.default_protocols for name, b in REGISTRY.items()}
# Rows collected before protocols were recorded were asked with the zero-shot prompts.
LEGACY = {"mcq": "mmlu_pro_zero_shot", "open": "boxed"}


@lru_cache(maxsize=None)
def _template_hash(name: str) -> str:
    protocol = PROTOCOLS[name]
    text = (protocol.template + protocol.hash_salt
            + (prompts.validation_digest() if protocol.few_shot else ""))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def get(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}: choose from "
                            f"{', '.join(PROTOCOLS)}") from None


Slot = tuple[str, str, tuple[str, ...]]  # (dataset, family, the dataset's families)


def slot_name(dataset: str, family: str, of: tuple[str, ...]) -> str:
    """A protocol's place in a run: the dataset, or "dataset/mcq" where a dataset (your own
    file) mixes multiple-choice and open-ended rows."""
    return dataset if len(of) == 1 else f"{dataset}/{family}"


def _slots(datasets: Iterable[str | Benchmark]) -> dict[str, tuple[str, str, Mapping[str, str]]]:
    slots = {}
    for item in datasets:
        name, defaults = ((item.name, item.default_protocols) if isinstance(item, Benchmark)
                          else (item, DEFAULTS.get(item)
                                or {f: FALLBACK_DEFAULTS[f] for f in families(item)}))
        for family in defaults:
            slots[slot_name(name, family, tuple(defaults))] = (name, family, defaults)
    return slots


def resolve(spec: str | None, datasets: Iterable[str | Benchmark],
            strict: bool = True) -> dict[str, Protocol]:
    """slot -> Protocol for a run: `spec` names protocols, comma-separated (e.g. "r1" or
    "mmlu_pro_zero_shot,qwen_boxed"); each takes every slot of its family (multiple choice or
    open-ended) that it fits, a protocol made for one dataset before a general one; slots not
    taken get their dataset's default. Strict: a protocol that fits nothing is an error."""
    slots = _slots(datasets)
    names = sorted({dataset for dataset, _, _ in slots.values()})
    wanted = [get(name) for name in filter(None, (p.strip() for p in (spec or "").split(",")))]
    chosen: dict[str, Protocol] = {}
    for specific in (True, False):
        taken: dict[str, Protocol] = {}
        for protocol in (p for p in wanted if bool(p.only) == specific):
            fits = [slot for slot, (dataset, family, _) in slots.items()
                    if family == protocol.family and (not protocol.only
                                                      or dataset in protocol.only)]
            if not fits and strict:
                raise ProtocolError(f"protocol {protocol.name!r} is for {protocol.scope}, which "
                                    f"this run does not collect ({', '.join(names)})")
            for slot in fits:
                if slot in taken and taken[slot] is not protocol:
                    raise ProtocolError(f"two protocols for {slot}: {taken[slot].name} and "
                                        f"{protocol.name}")
                taken[slot] = protocol
        for slot, protocol in taken.items():
            chosen.setdefault(slot, protocol)
    return {slot: chosen.get(slot) or PROTOCOLS[defaults[family]]
            for slot, (_, family, defaults) in slots.items()}


@lru_cache(maxsize=64)
def _resolved(spec: str, dataset: str, fields: str = "") -> dict[str, Protocol]:
    return resolve(spec, benchmarks(dataset, fields))


@lru_cache(maxsize=256)
def _for_dataset(spec: str, dataset: str) -> dict[str, Protocol]:
    return resolve(spec, (dataset,), strict=False)


def for_settings(settings: Settings) -> dict[str, Protocol]:
    """slot -> Protocol for a run's settings (`protocol`, `dataset`, `dataset_fields`)."""
    return _resolved(settings.protocol, settings.dataset,
                     getattr(settings, "dataset_fields", ""))


def for_problem(problem: Problem, spec: str = "") -> Protocol:
    resolved = _for_dataset(spec, problem.dataset)
    return resolved.get(problem.dataset) or resolved[f"{problem.dataset}/{problem.family}"]


def messages(problem: Problem, spec: str = "") -> list[dict[str, str]]:
    """The messages that ask `problem` under the protocol `spec` names for its dataset."""
    return for_problem(problem, spec).build_messages(problem)


def sampling_defaults(resolved: Mapping[str, Protocol]) -> dict[str, Any]:
    """The recommended sampling of the run's protocols (used for flags the user did not give)."""
    merged: dict[str, Any] = {}
    for protocol in resolved.values():
        merged.update(protocol.sampling)
    return merged


def with_recommended_sampling(settings: Settings, given: Mapping[str, Any] = {}) -> Settings:
    """`settings` with its protocols' recommended sampling (e.g. r1: temperature 0.6, top_p
    0.95) for each value the user left at the kit's default and did not pass in `given`."""
    defaults = type(settings)()  # the kit's defaults
    recommended = sampling_defaults(for_settings(settings))
    changes = {name: value for name, value in recommended.items()
               if given.get(name) is None and getattr(settings, name) == getattr(defaults, name)}
    return settings.replace(**changes) if changes else settings


def signature(resolved: Mapping[str, Protocol]) -> dict[str, str]:
    """For the run signature: a resumed run must ask the same way. Runs of other datasets than
    MATH-500 and MMLU-Pro also record which slot got which protocol."""
    signed = {"protocols": ",".join(f"{p.name}@{p.template_hash}"
                                    for _, p in sorted(resolved.items()))}
    if any(slot not in DATASETS for slot in resolved):
        signed["protocol_slots"] = ",".join(f"{slot}={p.name}"
                                            for slot, p in sorted(resolved.items()))
    return signed


def manifest_entries(resolved: Mapping[str, Protocol]) -> dict[str, Any]:
    return {slot: protocol.manifest_entry() for slot, protocol in sorted(resolved.items())}


def recorded_name(row: Mapping[str, Any]) -> str | None:
    """The protocol name a results row records: its `protocol` field, else its slot in the
    `protocol_slots` signature, else the first protocol of its family (and dataset) in the
    `sampling` signature every row carries ("boxed@<hash>,mmlu_pro_official@<hash>")."""
    if row.get("protocol"):
        return str(row["protocol"])
    sampling = row.get("sampling")
    if not isinstance(sampling, Mapping):
        return None
    dataset, family = str(row.get("dataset")), family_of(row)
    slots = dict(entry.split("=", 1) for entry in str(sampling.get("protocol_slots") or "")
                 .split(",") if "=" in entry)
    for slot in (f"{dataset}/{family}", dataset):
        if slots.get(slot) in PROTOCOLS:
            return slots[slot]
    for entry in str(sampling.get("protocols") or "").split(","):
        name = entry.split("@", 1)[0]
        protocol = PROTOCOLS.get(name)
        if protocol and protocol.family == family and (not protocol.only
                                                      or dataset in protocol.only):
            return name
    return None


def by_family(spec: str | None) -> dict[str, Protocol]:
    """"json_answer,multiple_choice" → {"open": json_answer, "mcq": multiple_choice}: the
    protocols to read rows that record none with (outputs collected elsewhere)."""
    chosen: dict[str, Protocol] = {}
    for name in filter(None, (part.strip() for part in (spec or "").split(","))):
        protocol = get(name)
        if protocol.family in chosen:
            raise ProtocolError(f"two protocols for {FAMILY_WORDS[protocol.family]}: "
                                f"{chosen[protocol.family].name} and {name}")
        chosen[protocol.family] = protocol
    return chosen


def for_row(row: Mapping[str, Any], unrecorded: Mapping[str, Protocol] = {}) -> Protocol:
    """The protocol a results row was collected under; rows that record none: the one given
    for their family in `unrecorded` (by_family), else the legacy zero-shot prompts."""
    name = recorded_name(row)
    if name:
        return get(name)
    family = family_of(row)
    return unrecorded.get(family) or PROTOCOLS[LEGACY[family]]
