"""Child process of the embedded CPU engine: llama.cpp's native server through xllamacpp.

Started by `collectkit.serve.server` in its own session; serves an OpenAI-compatible API until SIGTERM.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-parallel", type=int, default=8)
    parser.add_argument("--ctx-per-slot", type=int, default=4096)
    # serve_llm --replicas gives each replica its share of the threads through the environment.
    parser.add_argument("--threads", type=int,
                        default=int(os.environ.get("COLLECTKIT_LLAMACPP_THREADS") or 0)
                        or os.cpu_count() or 2)
    parser.add_argument("--api-key", default=os.environ.get("COLLECTKIT_SERVER_API_KEY"))
    args = parser.parse_args(argv)

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model_path
    params.model_alias = [args.alias]  # a plain string would be split into characters
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.n_parallel
    params.n_ctx = args.ctx_per_slot * args.n_parallel  # llama.cpp splits n_ctx across slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    if args.api_key:
        params.api_keys = [args.api_key]

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server = xlc.Server(params)  # noqa: F841 — serves in its own threads while referenced
    print(f"llama.cpp server for {args.alias} on http://{args.host}:{args.port}/v1", flush=True)
    stopped.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
