"""N independent servers of one model on consecutive ports: `serve_llm --replicas N`.

vLLM replicas each see their own share of the GPUs (CUDA_VISIBLE_DEVICES, tensor_parallel_size
GPUs apiece); llama.cpp replicas each get an equal share of the CPU threads. Every replica is a
recorded server like any other (`--status` / `--stop` handle them together); the URL list they
print is what `run_inference --api_base` takes. For vLLM, `--data-parallel-size` (one endpoint,
vLLM balances) is the other way: see docs/scaling.md for when to use which.
"""
from __future__ import annotations

import os
import subprocess
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from collectkit.serve.server import ServeError, ServerHandle, choose_engine, start_server

# The embedded engine's child reads its thread count from here (collectkit/llamacpp_server.py).
THREADS_VARIABLE = "COLLECTKIT_LLAMACPP_THREADS"
_environment_lock = threading.Lock()


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        return [gpu.strip() for gpu in declared.split(",") if gpu.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU")]


def cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def replica_environments(engine: str, replicas: int, tensor_parallel_size: int = 1,
                         gpus: list[str] | None = None,
                         threads: int | None = None) -> list[dict[str, str]]:
    """The extra environment of each replica: its GPUs (vLLM) or its thread count (llama.cpp)."""
    if replicas < 1:
        raise ServeError(f"--replicas must be at least 1, not {replicas}")
    if engine == "vllm":
        gpus = visible_gpus() if gpus is None else gpus
        needed = replicas * tensor_parallel_size
        if len(gpus) < needed:
            raise ServeError(f"{replicas} replicas × tensor parallel {tensor_parallel_size} need "
                             f"{needed} GPUs; {len(gpus)} visible ({','.join(gpus) or 'none'})")
        return [{"CUDA_VISIBLE_DEVICES": ",".join(
            gpus[i * tensor_parallel_size:(i + 1) * tensor_parallel_size])}
            for i in range(replicas)]
    share = max(1, (threads or cpu_threads()) // replicas)
    return [{THREADS_VARIABLE: str(share)} for _ in range(replicas)]


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """os.environ plus `extra` while one replica starts (start_server copies os.environ)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_replicas(model: str, replicas: int, *, engine: str = "auto", host: str = "127.0.0.1",
                   port: int = 8000, tensor_parallel_size: int = 1,
                   gpus: list[str] | None = None, threads: int | None = None,
                   **start_options: Any) -> list[ServerHandle]:
    """Start `replicas` servers on ports port, port+1, …; all or none: a replica that fails to
    start stops the ones already running and raises ServeError."""
    engine = choose_engine(model, engine)
    environments = replica_environments(engine, replicas, tensor_parallel_size, gpus, threads)
    if engine == "vllm":
        start_options["tensor_parallel_size"] = tensor_parallel_size
    handles: list[ServerHandle] = []
    try:
        for index, extra in enumerate(environments):
            with _environment_lock, _environment(extra):
                handles.append(start_server(model, engine=engine, host=host, port=port + index,
                                            **start_options))
    except BaseException as error:
        for handle in handles:
            handle.stop(timeout=10)
        if isinstance(error, ServeError):
            raise ServeError(f"replica {len(handles) + 1} of {replicas} (port "
                             f"{port + len(handles)}) did not start, so none was kept: "
                             f"{error}") from None
        raise
    return handles


def url_list(handles: list[ServerHandle]) -> str:
    """What `run_inference --api_base` takes."""
    return ",".join(handle.base_url for handle in handles)
