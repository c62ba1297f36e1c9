"""Before a local run sends anything: a server answers at --api_base, takes the key and serves
--model; otherwise one line saying what to do (CollectionError)."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from collectkit.collect.settings import Settings
from collectkit.collect.endpoints import probe_models
from collectkit.collect.faults import FATAL_STATUSES, redact_url
from collectkit.collect.model_identity import lists_model

log = logging.getLogger("collectkit")


class CollectionError(RuntimeError):
    """The run cannot start or had to stop; the message says why and what to do."""


def check_server(settings: Settings, api_key: str) -> None:
    """In local mode, fail early with the command to start a server if none answers, or with
    the cause if one refuses the key or serves another model. Of several URLs, those that do
    not answer yet are only named: the pool takes them in when they answer."""
    if settings.api_mode != "local":
        return
    silent = []
    for url in settings.base_urls:
        where = redact_url(url)
        status, models = probe_models(url, api_key)
        if status in FATAL_STATUSES and status != 404:
            raise CollectionError(f"{FATAL_STATUSES[status]} ({status} on /v1/models) at "
                                  f"{where}; give the server's key with --api_key or "
                                  "VLLM_API_KEY")
        if models and not lists_model(settings.model, models):
            raise CollectionError(f"the server at {where} serves {', '.join(models)}, "
                                  f"not {settings.model}; pass --model {models[0]}")
        if not models:
            silent.append(where)
    if len(silent) == len(settings.base_urls):
        raise CollectionError(
            f"no server answers at {', '.join(silent)}; start one with: python -m "
            f"collectkit.serve_llm --model {settings.model} "
            f"--port {urlsplit(settings.base_urls[0]).port or settings.server_port}")
    if silent:
        log.warning("not answering yet, used once they answer: %s", ", ".join(silent))
