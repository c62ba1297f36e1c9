"""The server side of the notebooks: starting or reusing the server recorded for a port, what this
machine can run, and one-line descriptions of a server (the chooser widget: notebook/chooser.py).

Re-exported by `collectkit.workflow.files` (the notebooks' `ns`).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.serve.server import (ServeError, ServerHandle, cuda_available, find_server, served_models,
                    server_api_key, start_server)
from collectkit.serve.vllm_command import vllm_launcher

ENGINES = ("auto", "vllm", "llamacpp")
ENGINE_NAMES = {"llamacpp": "llama.cpp on the CPU", "vllm": "vLLM on the GPU"}


# ------------------------------------------------------------------------------ this machine

@dataclass(frozen=True)
class Machine:
    """What this machine can serve (looked up once; nothing is imported or started)."""
    cuda_gpu: bool
    vllm_installed: bool
    llamacpp_installed: bool
    cpus: int

    def can_run(self, engine: str, chosen: str = "auto") -> str | None:
        """None if `engine` can run here, else why not (one line). `chosen` is what the user
        picked: auto takes vLLM only with a CUDA GPU, as serve.start_server does."""
        if engine == "vllm":
            if not self.vllm_installed:
                return "vLLM is not installed here (on a GPU machine: pip install -r requirements-gpu.txt)"
            if not self.cuda_gpu and chosen == "auto":
                return ("auto picks vLLM only with a CUDA GPU and none was found here "
                        "(choose engine vllm for a CPU build of vLLM)")
        elif engine == "llamacpp" and not self.llamacpp_installed:
            return "llama.cpp (xllamacpp) is not installed here"
        return None

    def summary(self) -> str:
        gpu = ("a CUDA GPU" + (" and vLLM" if self.vllm_installed else ", but vLLM is not installed")
               if self.cuda_gpu else "no CUDA GPU")
        runs = ["llama.cpp on the CPU (the embedded model or a .gguf file)"] if \
            self.llamacpp_installed else []
        if self.cuda_gpu and self.vllm_installed:
            runs.insert(0, "vLLM models on the GPU")
        can = " and ".join(runs) if runs else "no local engine"
        hint = "" if self.cuda_gpu else (
            "; for larger models use a GPU machine (or Colab) or a remote API "
            '(notebook 02 with api_mode = "remote")')
        return f"This machine ({self.cpus} CPU cores, {gpu}) can run {can}{hint}."


@lru_cache(maxsize=1)
def this_machine() -> Machine:
    return Machine(
        cuda_gpu=cuda_available(),
        vllm_installed=vllm_launcher() is not None,
        llamacpp_installed=importlib.util.find_spec("xllamacpp") is not None,
        cpus=os.cpu_count() or 1)


def engine_for(model: str, engine: str = "auto") -> str:
    """The engine `auto` picks: llama.cpp for the embedded model and .gguf files, else vLLM."""
    if engine != "auto":
        return engine
    if model == EMBEDDED_MODEL or model.endswith(".gguf"):
        return "llamacpp"
    return "vllm"


def served_model_id(model: str, engine: str = "auto") -> str:
    """The id a server started for `model` lists at /v1/models (a .gguf file serves its stem)."""
    if engine_for(model, engine) == "llamacpp" and model != EMBEDDED_MODEL:
        return Path(model).stem
    return model


# ------------------------------------------------------------------------------ the server

def ensure_server(model: str = EMBEDDED_MODEL, *, engine: str = "auto", host: str = "127.0.0.1",
                  port: int = 8000, reuse: bool = True, replace: bool = False,
                  **start_kwargs: Any) -> tuple[ServerHandle, bool]:
    """(handle, reused): the server recorded for this port when it already serves the model
    (and `reuse`), else a new one from `serve.start_server` (which returns once /v1/models lists
    the model). A stale record (process gone) is cleared; a recorded server that serves another
    model is stopped only when `replace`, otherwise this raises ServeError saying what to do."""
    if (engine_for(model, engine) == "llamacpp" and model != EMBEDDED_MODEL
            and not Path(model).expanduser().is_file()):  # before any port or model-id question
        raise ServeError(f"no such file: {model} (give a .gguf file's path, or a vLLM model id "
                         f"with engine vllm)")
    wanted = start_kwargs.get("served_model_name") or served_model_id(model, engine)
    recorded = find_server(port)
    if recorded is not None:  # probed with the server's key, if it requires one
        answering = served_models(recorded.base_url, server_api_key(start_kwargs.get("api_key")))
        if reuse and wanted in answering:
            return recorded, True
        if not recorded.running():
            recorded.stop()  # only clears the stale state file
        elif replace or wanted in answering:
            recorded.stop()
        else:
            what = (f"serving {', '.join(answering)}, not {wanted}" if answering else
                    f"recorded for {recorded.model_id}, not answering at {recorded.base_url}")
            raise ServeError(
                f"port {port} already has a server (PID {recorded.pid}) {what}; set replace = "
                f"True, choose another port, or stop it: python -m collectkit.serve_llm --stop "
                f"--port {port}")
    start_kwargs = {key: value for key, value in start_kwargs.items() if value is not None}
    if start_kwargs.get("log_dir"):  # recorded in the state file: --status must show it absolute
        start_kwargs["log_dir"] = Path(start_kwargs["log_dir"]).resolve()
    return start_server(model, engine=engine, host=host, port=port, **start_kwargs), False


def server_line(handle: ServerHandle, reused: bool = False) -> str:
    how = "reused the running" if reused else "started a"
    return (f"{how} {handle.engine} server: PID {handle.pid}, URL {handle.base_url}, "
            f"model {handle.model_id}")


def describe_server(handle: ServerHandle, reused: bool = False) -> str:
    return (f"{server_line(handle, reused)}\nlog: {Path(handle.log_path).resolve()}\n"
            f"state: {handle.state_path}")


def keep_or_stop(handle: ServerHandle, keep_running: bool, stopped_by: str = "") -> str:
    """Notebook 01's last line: leave the server for notebooks 02-04, or stop it (by PID).
    `stopped_by` names who stops it later (the demo), so the line does not say 'left running'."""
    if not keep_running:
        handle.stop()
        return f"stopped PID {handle.pid}"
    port = handle.base_url.rsplit(":", 1)[1].split("/")[0]
    if stopped_by:
        return f"serving notebooks 02-04 (PID {handle.pid}); {stopped_by} stops it afterwards"
    return (f"left running: PID {handle.pid} at {handle.base_url}; stop it with "
            f"python -m collectkit.serve_llm --stop --port {port}")
