"""Settings: every knob of a run, each checked when made; `Settings.load` layers defaults, `.env`,
environment variables and explicit overrides (CLI flags) as settings_sources.py says.

The API key itself is never a setting that gets saved: `api_key_env` names the variable that holds
it, and `resolve_api_key()` reads it at the moment a client is built.

Local mode never borrows the OpenAI client's variables: OPENAI_BASE_URL / OPENAI_API_BASE are
ignored there, and OPENAI_API_KEY is not sent to a local server (its key comes from --api_key,
COLLECTKIT_SERVER_API_KEY or VLLM_API_KEY, or a variable named with --api_key_env).
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from collectkit.serve.embedded_model import EMBEDDED_MODEL
from collectkit.collect.settings_sources import FIND_DOTENV, dotenv_file, layered_values
from collectkit.collect.shards import parse_shard
from collectkit.tasks import input_checks
from collectkit.tasks.input_checks import ConfigError  # noqa: F401  (raised here, caught by name)

DEFAULT_STOP = ("<end_of_turn>", "<|im_end|>")
DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY"
# Where a local server's key is looked for: the variable serve_llm starts servers with
# (serve.SERVER_KEY_VAR), then the one vLLM's own server reads for its --api-key.
LOCAL_KEY_VARIABLES = ("COLLECTKIT_SERVER_API_KEY", "VLLM_API_KEY")
REASONING_EFFORTS = (None, "none", "minimal", "low", "medium", "high")
MAX_TOP_LOGPROBS = 20  # OpenAI's limit for top_logprobs


@dataclass(frozen=True)
class Settings:
    # model and API
    model: str = EMBEDDED_MODEL
    api_mode: str = "local"  # local | remote
    # empty: local → http://{server_host}:{server_port}/v1, remote → OpenAI; several URLs
    # separated by commas are used together (endpoints.py: least requests in flight)
    api_base: str = ""
    api_key_env: str = DEFAULT_KEY_VARIABLE  # the NAME of the variable holding the key
    api_key: str | None = field(default=None, repr=False)  # only from a CLI flag; never saved
    request_timeout: float = 600.0
    # a request may take longer where n × max_tokens at this rate does (llm.BaseLLM.deadline)
    min_tokens_per_s: float = 10.0
    max_retries: int = 2  # the openai SDK's own retries (backoff, Retry-After)
    # generation
    temperature: float = 0.7
    max_tokens: int = 2048
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = DEFAULT_STOP
    # reasoning and logprobs (request_options.py says where each goes in a request)
    reasoning_effort: str | None = None  # none | minimal | low | medium | high (top-level field)
    thinking: str | None = None  # on | off: chat_template_kwargs.enable_thinking (local engines)
    thinking_budget: int | None = None  # thinking tokens at most, where the engine has a budget
    logprobs: int | None = None  # store the sampled tokens' logprobs (+ top-N when N > 0)
    # server
    engine: str = "auto"  # auto | vllm | llamacpp
    server_host: str = "127.0.0.1"
    server_port: int = 8000
    max_model_len: int = 8192
    tensor_parallel_size: int = 1
    gpu_util: float = 0.95
    enforce_eager: bool = True
    # collection
    # registry names (tasks/registry.py: math500, mmlu_pro, aime_2024, …), both, files in the
    # seed's format (.jsonl/.json/.csv/.parquet) and hf:ORG/NAME[:CONFIG][@REVISION], by commas
    dataset: str = "both"
    dataset_fields: str = ""  # hf: specs: FIELD=COLUMN,… (tasks/custom.py)
    dataset_source: str = "bundled"  # bundled | hub
    num_problems: str = "all"  # N or "all"
    subset_seed: int = 0  # which random stratified sample of num_problems (problems.py)
    shard: str = ""  # I/N: problems I, I+N, … of the run's order, 0 <= I < N (shards.py)
    protocol: str = ""  # protocols.py names, one per dataset, comma-separated; "" = defaults
    k_responses: int = 4
    batch_size: int = 64
    max_concurrent: int = 16  # the most in flight; fewer while the server answers 429/503
    rpm: float | None = None  # requests per minute at most (None: no limit)
    tpm: float | None = None  # tokens per minute at most: prompt estimate + max_tokens × n
    prices: str = ""  # a JSON price table replacing entries of the bundled one (pricing.py)
    max_attempts: int = 3
    retry_backoff_s: float = 2.0  # pause before the first in-run retry round; doubles each round
    output_dir: str = "results"
    # live figures (analyze/live.py): grade rows as they arrive; stop once every benchmark's
    # anytime-valid 95% interval has a half-width below target_halfwidth (0: no target)
    live_grading: bool = True
    target_halfwidth: float = 0.0
    # collect the problems of another run (a results or processed file) and stop once every
    # benchmark's paired difference excludes 0 or is narrower than ± target_difference
    compare_with: str = ""
    target_difference: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "api_mode": self.api_mode in ("local", "remote"),
            "engine": self.engine in ("auto", "vllm", "llamacpp"),
            "dataset": isinstance(self.dataset, str) and bool(self.dataset.strip()),
            "dataset_source": self.dataset_source in ("bundled", "hub"),
            "num_problems": self.num_problems == "all"
            or (self.num_problems.isdigit() and int(self.num_problems) > 0),
            "k_responses": self.k_responses >= 1,
            "subset_seed": self.subset_seed >= 0,
            "batch_size": self.batch_size >= 1,
            "max_concurrent": self.max_concurrent >= 1,
            "max_attempts": self.max_attempts >= 1,
            "max_tokens": self.max_tokens >= 1,
            "temperature": _finite(self.temperature) and self.temperature >= 0,
            "top_p": self.top_p is None or (_finite(self.top_p) and 0 < self.top_p <= 1),
            "reasoning_effort": self.reasoning_effort in REASONING_EFFORTS,
            "thinking": self.thinking in (None, "on", "off"),
            "thinking_budget": self.thinking_budget is None or self.thinking_budget >= 0,
            "logprobs": self.logprobs is None or 0 <= self.logprobs <= MAX_TOP_LOGPROBS,
            "repetition_penalty": self.repetition_penalty is None
            or (_finite(self.repetition_penalty) and self.repetition_penalty > 0),
            "request_timeout": _finite(self.request_timeout) and self.request_timeout > 0,
            "min_tokens_per_s": _finite(self.min_tokens_per_s) and self.min_tokens_per_s > 0,
            "max_retries": self.max_retries >= 0,
            "rpm": self.rpm is None or (_finite(self.rpm) and self.rpm > 0),
            "tpm": self.tpm is None or (_finite(self.tpm) and self.tpm > 0),
            "retry_backoff_s": _finite(self.retry_backoff_s) and self.retry_backoff_s >= 0,
            "tensor_parallel_size": self.tensor_parallel_size >= 1,
            "server_port": 0 <= self.server_port < 65536,
            "gpu_util": _finite(self.gpu_util) and 0 < self.gpu_util <= 1,
            "target_halfwidth": _finite(self.target_halfwidth)
            and 0 <= self.target_halfwidth < 0.5,
            "target_difference": _finite(self.target_difference)
            and 0 <= self.target_difference < 1,
        }
        if not input_checks.variable_name(self.api_key_env):  # never echoed: may be the key
            raise ConfigError("api_key_env takes the NAME of the variable that holds the key "
                              "(like OPENAI_API_KEY), not the key itself; the value given is not "
                              "a variable name (not shown, in case it is a key)")
        try:
            parse_shard(self.shard)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            raise ConfigError(f"invalid value for {name}: {getattr(self, name)!r}")
        if (self.target_halfwidth or self.compare_with) and not self.live_grading:
            raise ConfigError(f"{'target_halfwidth' if self.target_halfwidth else 'compare_with'}"
                              " needs live grading; drop --no_live_grading")
        if self.target_difference and not self.compare_with:
            raise ConfigError("target_difference needs compare_with: the run to compare with")
        from collectkit.tasks.registry import check_names

        try:
            check_names(self.dataset)
        except ValueError as exc:  # an unknown name: one line listing the known ones
            raise ConfigError(f"invalid value for dataset: {exc}") from None
        for url in self.base_urls:
            problem = input_checks.base_url_problem(url)
            if problem:
                raise ConfigError(problem)
            if "@" not in url.split("://", 1)[-1].split("/", 1)[0]:
                continue
            from collectkit.collect.faults import redact_url

            raise ConfigError(f"api_base {redact_url(url)} carries credentials "
                              "(user:password@), which the HTTP client cannot send beside an API "
                              "key; give the key with --api_key_env or .env instead")

    @property
    def base_url(self) -> str:
        """The base URL, or several joined by commas."""
        return ",".join(self.base_urls)

    @property
    def base_urls(self) -> list[str]:
        if self.api_base:
            return split_urls(self.api_base)
        return [self._default_url]

    @property
    def _default_url(self) -> str:
        if self.api_mode == "local":
            return f"http://{self.server_host}:{self.server_port}/v1"
        return "https://api.openai.com/v1"

    @property
    def problem_limit(self) -> int | None:
        return None if self.num_problems == "all" else int(self.num_problems)

    def resolve_api_key(self) -> str:
        """The key from --api_key, else from its variable (environment, then .env).

        Remote: the variable named by api_key_env. Local: COLLECTKIT_SERVER_API_KEY, VLLM_API_KEY,
        or api_key_env when it names another variable than OPENAI_API_KEY; otherwise "EMPTY" (a
        local server accepts any key unless started with one), so an OpenAI key never reaches a
        local server."""
        if self.api_key:
            return self.api_key
        if self.api_mode == "local":
            names = [*LOCAL_KEY_VARIABLES] + ([self.api_key_env]
                                              if self.api_key_env != DEFAULT_KEY_VARIABLE else [])
        else:
            names = [self.api_key_env]
        dotenv = None
        for name in names:
            key = os.environ.get(name)
            if not key:
                dotenv = dotenv_file() if dotenv is None else dotenv
                key = dotenv.get(name)
            if key:
                return key
        if self.api_mode == "local":
            return "EMPTY"
        raise ConfigError(f"no API key: set {self.api_key_env} in the environment or .env")

    def public_dict(self) -> dict[str, Any]:
        """Everything except the key itself (and credentials in api_base), for manifests and
        logs."""
        from collectkit.collect.faults import redact_url

        data = dataclasses.asdict(self)
        data.pop("api_key")
        data["api_base"] = redact_url(self.api_base)
        data["stop"] = list(self.stop)
        return data

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None,
             env_file: str | Path | None = FIND_DOTENV,
             environ: Mapping[str, str] | None = None) -> "Settings":
        """Defaults < `.env` < environment < overrides (None values in overrides are ignored)."""
        return cls(**layered_values(fields(cls), cls.api_mode, overrides, env_file, environ))


def split_urls(value: str | Iterable[str]) -> list[str]:
    """'a,b c' or ['a,b', 'c'] → ['a', 'b', 'c'] without trailing slashes or repeats."""
    parts = [value] if isinstance(value, str) else list(value)
    urls: list[str] = []
    for part in parts:
        for url in part.replace(",", " ").split():
            url = url.rstrip("/")
            if url not in urls:
                urls.append(url)
    return urls


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
