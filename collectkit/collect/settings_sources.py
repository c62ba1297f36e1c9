"""Where a run's settings come from, in order: defaults < `.env` < environment variables <
explicit overrides (CLI flags, keyword arguments), and how their text is read into values.

`.env` is looked for from the current folder upward (python-dotenv's find_dotenv), so notebooks
started in `notebooks/` find the project's file. Local mode never borrows the OpenAI client's
variables: OPENAI_BASE_URL / OPENAI_API_BASE describe OpenAI, never a local server.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from dotenv import dotenv_values, find_dotenv

from collectkit.tasks.input_checks import ConfigError

ENV_PREFIX = "COLLECTKIT_"
# Variables users already know from the seed scripts and from vLLM, read besides COLLECTKIT_*.
ENV_ALIASES = {
    "tensor_parallel_size": ("VLLM_TENSOR_PARALLEL_SIZE",),
    "api_base": ("OPENAI_API_BASE", "OPENAI_BASE_URL"),
}
# The OpenAI client's own variables: they describe OpenAI, never a local server.
REMOTE_ONLY_ALIASES = frozenset({"OPENAI_API_BASE", "OPENAI_BASE_URL"})
FIND_DOTENV = "find"  # Settings.load's default: the nearest .env from the current folder upward


def layered_values(settings_fields: Iterable[dataclasses.Field], default_api_mode: str,
                   overrides: Mapping[str, Any] | None = None,
                   env_file: str | Path | None = FIND_DOTENV,
                   environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The values given for the settings' fields, each from the highest layer that has it
    (None values in overrides are ignored; an unknown override name is a ConfigError)."""
    by_name = {f.name: f for f in settings_fields}
    layered: dict[str, str] = dict(dotenv_file(env_file))
    environment = os.environ if environ is None else environ
    layered.update({k: v for k, v in environment.items() if v})  # empty: fall through to .env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in by_name.values():
        if f.name == "api_key":  # only ever an explicit override: never read from a file
            continue
        for var in (ENV_PREFIX + f.name.upper(), *ENV_ALIASES.get(f.name, ())):
            if layered.get(var, "") != "":
                values[f.name] = parse_value(f, layered[var])
                sources[f.name] = var
                break
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in by_name:  # whatever the value's type
                raise ConfigError(f"unknown setting: {name}")
            values[name] = parse_value(by_name[name], value) if isinstance(value, str) else value
            sources[name] = "override"
    if (values.get("api_mode", default_api_mode) == "local"
            and sources.get("api_base") in REMOTE_ONLY_ALIASES):
        del values["api_base"]
    if "num_problems" in values:
        values["num_problems"] = str(values["num_problems"]).strip().lower()
    if isinstance(values.get("stop"), list):
        values["stop"] = tuple(values["stop"])
    return values


def parse_value(f: dataclasses.Field, raw: str) -> Any:
    """A setting's value from its text, by the field's type."""
    kind = str(f.type)
    # "none" or "" clears only a setting that may be None (seed, top_p); elsewhere it is invalid.
    cleared = "None" in kind and raw.strip().lower() in ("", "none")
    try:
        if kind.startswith("bool"):
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind.startswith("int"):
            return None if cleared else int(raw)
        if kind.startswith("float"):
            return None if cleared else float(raw)
        if kind.startswith("tuple"):
            return tuple(s for s in raw.split(",") if s)
    except ValueError:
        raise ConfigError(f"invalid value for {f.name}: {raw!r}") from None
    return raw


def dotenv_file(env_file: str | Path | None = FIND_DOTENV) -> dict[str, str]:
    """The variables a `.env` file sets (FIND_DOTENV: the nearest one; None: none)."""
    if env_file == FIND_DOTENV:
        env_file = find_dotenv(usecwd=True) or None
    if env_file is None or not Path(env_file).is_file():
        return {}
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}
