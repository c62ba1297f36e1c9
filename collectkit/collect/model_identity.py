"""Which model answered: each reply's `model` against what its endpoint serves, counted for the
manifest, a change during the run warned once.

A reply naming --model, a dated snapshot of it or a path to it (replies.same_model) is the run's
model without asking. Anything else is compared with what that endpoint serves, from its
`GET /v1/models` listing (asked once per endpoint, the first time a reply needs it):
- vLLM `--served-model-name A B` lists A and B, each with `root` = the model path, and answers
  every request with A: the names sharing a root are one model.
- llama.cpp's server without `--alias` lists and answers with its file path: --model may name it
  by the path, the file name, or the file name without `.gguf`.
- An endpoint that lists nothing (Azure OpenAI deployments: 404) serves what its first reply
  named (deployment `prod` answered by `gpt-4o-2024-08-06`); later replies must name it, or
  another snapshot of it (the provider moved the alias).
Any other reply is from a model the endpoint does not serve for this run: WrongModel.

The answering models and system_fingerprints are counted per reply; the first time either
changes on an endpoint (providers swap what an alias points to) one warning says so.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from collectkit.collect.faults import redact_url
from collectkit.collect.replies import SNAPSHOT_SUFFIX, BadReply, same_model, writable

log = logging.getLogger("collectkit")

# (id, root) per model an endpoint lists; None: it lists nothing (no /v1/models, or no answer)
Listing = list[tuple[str, str | None]] | None
MAX_CHANGES_KEPT = 20
TRAILING_SNAPSHOT = re.compile(f"(?:{SNAPSHOT_SUFFIX.pattern})$")


class WrongModel(BadReply):
    """A reply from a model its endpoint does not serve under --model."""


def names_file(requested: str, listed: str) -> bool:
    """--model names a listed model file (llama.cpp's GGUF path) by its file name, with or
    without `.gguf` (llama.cpp answers whatever name a request gives)."""
    if not listed.endswith(".gguf"):
        return False
    name = listed.replace("\\", "/").rsplit("/", 1)[-1]
    return requested in (listed, name, name.removesuffix(".gguf"))


def served_names(requested: str, listing: Listing) -> set[str]:
    """The names the model --model asks for goes by on an endpoint with this listing: the
    entries naming it, and every name sharing their root (vLLM's several served names)."""
    listing = listing or []
    matching = [(id_, root) for id_, root in listing
                if same_model(requested, id_) or names_file(requested, id_)]
    roots = {root for _, root in matching if root}
    return ({id_ for id_, _ in matching} | roots
            | {id_ for id_, root in listing if root and root in roots})


def lists_model(requested: str, listed: list[str]) -> bool:
    """Whether an endpoint listing these ids takes requests for --model: by its exact id (vLLM
    answers 404 to any other), or a model file by its name."""
    return any(isinstance(id_, str) and (requested == id_ or names_file(requested, id_))
               for id_ in listed)


def family(model: str) -> str:
    """The model without its snapshot suffix: gpt-4o-2024-08-06 → gpt-4o."""
    return TRAILING_SNAPSHOT.sub("", model) or model


@dataclass
class EndpointModels:
    listing: Listing = None
    asked: bool = False  # its listing was asked for (listing None after: it lists nothing)
    first: str | None = None  # the model its first reply named
    last: dict[str, str] = field(default_factory=dict)  # "model" / "system_fingerprint"


class ModelIdentity:
    """`check(endpoint, model, fingerprint)` per reply; `report()` for the manifest."""

    def __init__(self, requested: str, redact: Callable[[str], str] = str) -> None:
        self.requested = requested
        self.redact = redact  # the run's Redactor: names from a server are shown through it
        self.endpoints: dict[str, EndpointModels] = {}
        self.answered: Counter[str] = Counter()
        self.fingerprints: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.changes: list[dict[str, str]] = []
        self.warned: set[str] = set()
        self._asking: dict[str, Awaitable[Listing]] = {}

    def endpoint(self, key: str) -> EndpointModels:
        return self.endpoints.setdefault(key, EndpointModels())

    def needs_listing(self, key: str, served: Any) -> bool:
        return (isinstance(served, str) and not same_model(self.requested, served)
                and not self.endpoint(key).asked)

    def set_listing(self, key: str, listing: Listing) -> None:
        entry = self.endpoint(key)
        entry.listing, entry.asked = listing, True

    async def check_async(self, key: str, served: Any, fingerprint: Any,
                          ask: Callable[[], Awaitable[Listing]]) -> None:
        """check(), asking the endpoint's listing (`await ask()`, once) if the reply needs it."""
        if self.needs_listing(key, served):
            if key not in self._asking:
                self._asking[key] = asyncio.ensure_future(ask())
            # shielded: a request cancelled (its deadline) while waiting leaves the ask to others
            listing = await asyncio.shield(self._asking[key])
            if not self.endpoint(key).asked:
                self.set_listing(key, listing)
        self.check(key, served, fingerprint)

    def check(self, key: str, served: Any, fingerprint: Any,
              ask: Callable[[], Listing] | None = None) -> None:
        """Count the reply; WrongModel if its endpoint does not serve --model as `served`.
        A reply without a model (or a model of the wrong type: the parser names that) passes."""
        if ask is not None and self.needs_listing(key, served):
            self.set_listing(key, ask())
        if not isinstance(served, str) or not served:
            self._count(key, None, fingerprint)
            return
        entry = self.endpoint(key)
        if entry.first is None:
            entry.first = served
        if not self.serves(key, entry, served):
            self.refused[self._text(served)] += 1
            raise WrongModel(self._refusal(key, entry, served))
        self._count(key, served, fingerprint)

    def serves(self, key: str, entry: EndpointModels, served: str) -> bool:
        if same_model(self.requested, served):
            return True
        if entry.listing is not None:
            return any(same_model(name, served)
                       for name in served_names(self.requested, entry.listing))
        learnt = entry.first or served
        if not entry.asked or not same_model(family(learnt), served):
            return False
        self._warn_once(f"learnt at {key}", "%s lists no models; its replies name %r (--model "
                        "%r): taken as the model it serves", redact_url(key), self._text(learnt),
                        self.requested)
        return True

    def _refusal(self, key: str, entry: EndpointModels, served: str) -> str:
        if entry.listing is not None:
            listed = ", ".join(id_ for id_, _ in entry.listing[:5]) or "nothing"
            where = f"{redact_url(key)} lists {listed}"
        elif entry.asked and entry.first:
            where = f"{redact_url(key)} lists no models and answered first as {entry.first!r}"
        else:
            where = redact_url(key)
        return (f"answered by model {self._text(served)!r}, not {self.requested!r} (the run's "
                f"--model; {self._text(where)}); not stored")

    def _count(self, key: str, served: str | None, fingerprint: Any) -> None:
        fingerprint = fingerprint if isinstance(fingerprint, str) and fingerprint else None
        if served is not None:
            self.answered[self._text(served)] += 1
        if fingerprint is not None:
            self.fingerprints[self._text(fingerprint)] += 1
        entry = self.endpoint(key)
        for name, value in (("model", served), ("system_fingerprint", fingerprint)):
            if value is None:
                continue
            before = entry.last.get(name)
            entry.last[name] = value
            if before is None or before == value:
                continue
            if len(self.changes) < MAX_CHANGES_KEPT:
                self.changes.append({"endpoint": redact_url(key), "field": name,
                                     "from": self._text(before), "to": self._text(value)})
            self._warn_once(name, "the answering %s changed during the run at %s: %r → %r "
                            "(the manifest counts the replies of each)", name, redact_url(key),
                            self._text(before), self._text(value))

    def _text(self, value: str) -> str:
        return self.redact(writable(value))

    def _warn_once(self, what: str, message: str, *args: Any) -> None:
        if what not in self.warned:
            self.warned.add(what)
            log.warning(message, *args)

    def report(self) -> dict[str, Any]:
        """For the manifest: replies per answering model and per system_fingerprint, replies
        refused, what each endpoint lists, and the changes seen."""
        return {"requested": self.requested, "answered": dict(self.answered),
                "system_fingerprints": dict(self.fingerprints), "refused": dict(self.refused),
                "changes": list(self.changes),
                "endpoints": [{"url": redact_url(key),
                               "first": entry.first and self._text(entry.first),
                               "lists": None if entry.listing is None else
                               [self._text(id_) for id_, _ in entry.listing]}
                              for key, entry in self.endpoints.items()]}
