#!/usr/bin/env python3
"""A fake vLLM server for tests, in both launcher forms the kit uses:
`fake_vllm.py serve MODEL --host H --port P [flags…]` (the `vllm` command) and
`fake_vllm.py --model MODEL --host H --port P [flags…]` (`python -m vllm.entrypoints.openai.api_server`).

Standard library only. Driven by environment variables:

FAKE_VLLM_RECORD   path of a JSON file to write at start: {"argv", "pid", "api_key"} where api_key
                   is the value of VLLM_API_KEY (how collectkit passes the key to vLLM).
FAKE_VLLM_MODE     ready (default): after FAKE_VLLM_DELAY seconds, serve GET /v1/models with MODEL
                   (401 without the right bearer token when VLLM_API_KEY is set), or every
                   --served-model-name, each with root = MODEL, as vLLM lists them;
                   fail: print an error and exit 1 at once;
                   never: serve /v1/models, but never list MODEL.
FAKE_VLLM_DELAY    seconds before the port opens in `ready` mode (default 0).
FAKE_VLLM_IGNORE_TERM  "1": ignore SIGTERM (to test the kill after the grace period).
FAKE_VLLM_CHILDREN     N: start N child processes first (like vLLM's engine core and workers),
                   each ignoring SIGTERM when FAKE_VLLM_IGNORE_TERM is set; their pids are recorded
                   as "children".
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

FAILURE_MESSAGE = "ValueError: fake vllm cannot load this model (injected failure)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vllm")
    if argv[:1] == ["serve"]:
        parser.add_argument("command")
        parser.add_argument("model")
    else:
        parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", nargs="+")  # several names, as vLLM takes
    args, _unknown = parser.parse_known_args(argv)

    if os.environ.get("FAKE_VLLM_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the children below
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
                for _ in range(int(os.environ.get("FAKE_VLLM_CHILDREN", "0")))]
    record = os.environ.get("FAKE_VLLM_RECORD")
    if record:
        with open(record + ".tmp", "w") as out:
            json.dump({"argv": argv, "pid": os.getpid(), "children": [c.pid for c in children],
                       "api_key": os.environ.get("VLLM_API_KEY")}, out)
        os.replace(record + ".tmp", record)

    mode = os.environ.get("FAKE_VLLM_MODE", "ready")
    print(f"INFO fake vllm {mode}: serve {args.model} on {args.host}:{args.port}", flush=True)
    if mode == "fail":
        print(FAILURE_MESSAGE, file=sys.stderr, flush=True)
        return 1
    if mode == "ready":
        time.sleep(float(os.environ.get("FAKE_VLLM_DELAY", "0")))
    listed = (args.served_model_name or [args.model]) if mode == "ready" else []
    api_key = os.environ.get("VLLM_API_KEY")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's naming
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                return self._send(401, {"error": "invalid api key"})
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [  # vLLM: root = the model
                    {"id": name, "object": "model", "owned_by": "fake", "root": args.model}
                    for name in listed]})
            return self._send(404, {"error": "not found"})

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    with HTTPServer((args.host, args.port), Handler) as server:
        print("INFO fake vllm: application startup complete", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
