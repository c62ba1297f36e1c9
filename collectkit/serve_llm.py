"""python -m collectkit.serve_llm — start an inference server in the background and return once
it is ready; `--status` shows recorded servers, `--stop` ends one."""
from __future__ import annotations

import argparse
import sys
import time

from .config import ConfigError, Settings
from .serve import ServeError, find_server, recorded_servers, served_models, start_server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collectkit.serve_llm", description=__doc__)
    parser.add_argument("--model", help="vLLM model id, a .gguf path, or the embedded model "
                        "(default: smollm2-135m-instruct)")
    parser.add_argument("--engine", choices=["auto", "vllm", "llamacpp"],
                        help="auto: vLLM when a CUDA GPU and vllm are present, else llama.cpp")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000)")
    parser.add_argument("--max-model-len", type=int, help="context length per request")
    parser.add_argument("--gpu-util", type=float, help="vLLM GPU memory fraction (default 0.95)")
    parser.add_argument("--tensor-parallel-size", type=int,
                        help="GPUs per model (default 1, or VLLM_TENSOR_PARALLEL_SIZE)")
    eager = parser.add_mutually_exclusive_group()
    eager.add_argument("--enforce-eager", dest="enforce_eager", action="store_true", default=None,
                       help="vLLM eager mode, no CUDA graphs (the default)")
    eager.add_argument("--no-enforce-eager", dest="enforce_eager", action="store_false")
    parser.add_argument("--api-key", help="require this key from clients (not written anywhere)")
    parser.add_argument("--n-parallel", type=int, default=8,
                        help="llama.cpp: sequences decoded together (default 8)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for readiness")
    parser.add_argument("--status", action="store_true", help="show recorded servers and exit")
    parser.add_argument("--stop", action="store_true",
                        help="stop the server recorded for --port (or every recorded one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.status:
            return show_status()
        if args.stop:
            return stop(args.port)
        settings = Settings.load({
            "model": args.model, "engine": args.engine, "server_host": args.host,
            "server_port": args.port, "max_model_len": args.max_model_len,
            "gpu_util": args.gpu_util, "tensor_parallel_size": args.tensor_parallel_size,
            "enforce_eager": args.enforce_eager})
        started = time.monotonic()
        handle = start_server(
            settings.model, engine=settings.engine, host=settings.server_host,
            port=settings.server_port, max_model_len=settings.max_model_len,
            gpu_util=settings.gpu_util, tensor_parallel_size=settings.tensor_parallel_size,
            enforce_eager=settings.enforce_eager, api_key=args.api_key,
            n_parallel=args.n_parallel, timeout=args.timeout)
    except (ServeError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{handle.engine} server ready in {time.monotonic() - started:.1f} s: "
          f"PID {handle.pid}, URL {handle.base_url}, model {handle.model_id}")
    print(f"log: {handle.log_path}; stop with: python -m collectkit.serve_llm --stop "
          f"--port {settings.server_port}")
    return 0


def show_status() -> int:
    handles = recorded_servers()
    if not handles:
        print("no recorded servers")
        return 1
    for handle in handles:
        state = "ready" if handle.model_id in served_models(handle.base_url) else (
            "running, not answering" if handle.running() else "gone")
        print(f"{state}: PID {handle.pid} {handle.engine} {handle.model_id} at {handle.base_url} "
              f"(log {handle.log_path})")
    return 0


def stop(port: int | None) -> int:
    handles = [find_server(port)] if port is not None else recorded_servers()
    handles = [h for h in handles if h is not None]
    if not handles:
        print(f"no recorded server{f' on port {port}' if port else ''}", file=sys.stderr)
        return 1
    for handle in handles:
        was_running = handle.stop()
        print(f"{'stopped' if was_running else 'was not running'}: PID {handle.pid} "
              f"at {handle.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
