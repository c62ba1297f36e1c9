"""A fast OpenAI-compatible stub server on 127.0.0.1 that injects faults, for tests and benchmarks.

Run:  python tests/stub_server.py --port 0   → prints one line `READY http://127.0.0.1:PORT/v1`.

Chat completions are "tok tok ... <answer text>" (`--completion-tokens` words: 4 bytes each, so
`--completion-tokens 4096` answers ~16 KB per response); the same request always gets the same
text, and with `--tag-prompt` each text starts with `[prompt=<sha256 of the messages, 12 hex>]`,
so two problems never share a text and a test can tell whose it is. Faults are scripted
over HTTP so a test in another process can drive them:
  POST /control/faults  {"faults": [{"kind": "429", "retry_after": 1}, ...]}   FIFO, one per request
                        {"mode": "reject_n"}   applied to every request until {"mode": "ok"}
                        {"clear": true}        drops the queued faults
  GET  /control/stats   counters: requests, statuses, n values, seeds, parameter keys, last request
  POST /control/reset_stats
Fault kinds:
  HTTP errors   429 (retry_after), 500, 503, 400 (message), 401 (echoes the Bearer key, as some
                servers do), 403, 404 (any other status code works too)
  broken 200s   truncated_json (half a completion), text_plain, empty_object (`{}`),
                empty_choices (`"choices": []`), few_choices (one choice whatever n; "count")
  connection    reset (closed after reading the request, before any byte back),
                stall (seconds; accepted, then silent)
  reject_n      a 400 like Gemini's for n > 1
  hostile       trickle, invalid_utf8, lone_surrogate, bad_usage, cut_body, raw, echo_key,
                other_model, redirect (location): see tests/hostile_faults.py
  POST /control/faults {"models_fault": {"kind": "redirect", "location": URL}} (or trickle)
                applies to GET /v1/models until {"models_fault": null}
Model identity (what real servers name in `model`, issue 24):
  --served-model-name A B   like vLLM: lists A and B, each with root = --model, answers every
                            request with A; a request naming neither gets vLLM's 404
  --no-models-route         like an Azure OpenAI deployment: GET /v1/models is a 404; replies
                            name --model (e.g. the snapshot gpt-4o-2024-08-06) whatever is asked
  --model /m/x.gguf         like llama.cpp's server without --alias: lists and answers its file
  --tokens-per-s R          a slow, steady generation: each reply takes its tokens / R seconds
  --reply-models M1,M2 / --fingerprints F1,F2 with --switch-after N
                            replies name M1 (system_fingerprint F1) for the first N chat
                            requests, then M2 (F2): an alias swapped mid-run
`StubServer` starts it as a subprocess for tests and benchmarks.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, deque
from pathlib import Path

from aiohttp import web

import hostile_faults

DEFAULT_ANSWER_TEXT = r"The answer is (A). \boxed{42}"
GEMINI_REJECT_N_MESSAGE = (
    "Multiple candidates is not enabled for models/gemini-3-pro-preview. "
    "Please set candidateCount to 1."
)
ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_api_key", 403: "permission_denied",
               404: "model_not_found", 429: "rate_limit_exceeded", 500: "server_error",
               503: "service_unavailable"}


def _json_response(payload: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), status=status, headers=headers,
                        content_type="application/json")


BROKEN_BODIES = {  # fault kind → (full completion body → (body sent with status 200, content type))
    "truncated_json": lambda body: (body[: len(body) // 2], "application/json"),
    "text_plain": lambda body: (b"upstream is warming up, try later", "text/plain"),
    "empty_object": lambda body: (b"{}", "application/json"),
    "empty_choices": lambda body: (json.dumps({**json.loads(body), "choices": []}).encode(),
                                   "application/json"),
}


def _openai_error(status: int, message: str, headers: dict | None = None) -> web.Response:
    error = {"message": message, "type": ERROR_TYPES.get(status, "error"), "param": None,
             "code": status}
    return _json_response({"error": error}, status=status, headers=headers)


class StubApp:
    """Request handlers plus the fault queue, persistent mode and counters."""

    def __init__(self, model: str, completion_tokens: int, answer_text: str, delay: float,
                 reasoning: bool, served_names: list[str] | None = None,
                 models_route: bool = True, reply_models: list[str] | None = None,
                 fingerprints: list[str] | None = None, switch_after: int = 0,
                 tokens_per_s: float = 0.0, tag_prompt: bool = False):
        self.model, self.completion_tokens, self.delay = model, completion_tokens, delay
        self.tag_prompt = tag_prompt
        self.answer_text, self.reasoning = answer_text, reasoning
        self.served_names = served_names or []  # vLLM --served-model-name
        self.models_route = models_route
        self.reply_models = reply_models or [self.served_names[0] if self.served_names
                                             else model]
        self.fingerprints = fingerprints or [None]
        self.switch_after = switch_after
        self.tokens_per_s = tokens_per_s  # a steady generation: tokens / this seconds per reply
        self.chat_requests = 0  # never reset: the switch happens once per server
        self.faults: deque[dict] = deque()
        self.mode: dict | None = None
        self.models_fault: dict | None = None  # applied to GET /v1/models
        self.request_ids = itertools.count()
        self.created = int(time.time())
        self.reset_stats()

    def reset_stats(self) -> None:
        self.total_requests = 0
        self.status_counts: Counter[str] = Counter()
        self.n_values: Counter[str] = Counter()
        self.seeds: Counter[str] = Counter()
        self.param_keys: Counter[str] = Counter()
        self.last_request: dict | None = None
        self.authorizations: Counter[str] = Counter()  # Authorization headers seen

    # ---- the common case: bodies precomputed per (n, token limit, seed) ----
    def _message(self, token_limit: int, seed, choice_index: int, prompt: str = ""
                 ) -> tuple[dict, str]:
        cut = token_limit < self.completion_tokens
        answer_words = self.answer_text.split()
        filler = token_limit if cut else max(self.completion_tokens - len(answer_words), 0)
        tag = f"[seed={seed} choice={choice_index}] " if seed is not None else f"[choice={choice_index}] "
        content = (f"[prompt={prompt}] " if prompt else "") + tag + "tok " * filler + ("" if cut else self.answer_text)
        message = {"role": "assistant", "content": content.rstrip()}
        if self.reasoning:
            message["reasoning_content"] = "Thinking about it. " * 4
        return message, "length" if cut else "stop"

    @functools.lru_cache(maxsize=4096)
    def _body_parts(self, n: int, token_limit: int, seed, model: str,
                    fingerprint: str | None, prompt: str = "") -> tuple[bytes, bytes]:
        """Everything of the response but its id: (prefix, suffix) to concatenate around it."""
        choices = []
        for index in range(n):
            message, finish_reason = self._message(token_limit, seed, index, prompt)
            choices.append({"index": index, "message": message, "logprobs": None,
                            "finish_reason": finish_reason})
        tokens = min(token_limit, self.completion_tokens) * n
        body = {"id": "@ID@", "object": "chat.completion", "created": self.created,
                "model": model, "choices": choices, "system_fingerprint": fingerprint,
                "usage": {"prompt_tokens": 10, "completion_tokens": tokens,
                          "total_tokens": 10 + tokens}}
        prefix, suffix = json.dumps(body).encode().split(b"@ID@")
        return prefix, suffix

    def _identity(self) -> tuple[str, str | None]:
        """The model and system_fingerprint this reply names (switched after --switch-after)."""
        later = bool(self.switch_after) and self.chat_requests > self.switch_after
        return (self.reply_models[min(later, len(self.reply_models) - 1)],
                self.fingerprints[min(later, len(self.fingerprints) - 1)])

    def _completion(self, n: int, token_limit: int, seed, prompt: str = "") -> web.Response:
        prefix, suffix = self._body_parts(n, token_limit, seed, *self._identity(), prompt)
        body = prefix + b"chatcmpl-stub-%d" % next(self.request_ids) + suffix
        return web.Response(body=body, content_type="application/json")

    # ---- handlers ----
    async def models(self, request: web.Request) -> web.Response:
        self.authorizations[request.headers.get("Authorization", "")] += 1
        if self.models_fault:
            return await hostile_faults.apply(self.models_fault["kind"], self.models_fault,
                                              request, b"{}")
        if not self.models_route:  # an Azure deployment: no listing
            return _openai_error(404, "Resource not found")
        if self.served_names:  # vLLM: every served name, root = the model path
            return _json_response({"object": "list", "data": [
                {"id": name, "object": "model", "created": self.created, "owned_by": "vllm",
                 "root": self.model, "parent": None} for name in self.served_names]})
        return _json_response({"object": "list", "data": [
            {"id": self.model, "object": "model", "created": self.created, "owned_by": "stub"}]})

    async def chat_completions(self, request: web.Request) -> web.Response:
        params = json.loads(await request.read())
        n = int(params.get("n") or 1)
        seed = params.get("seed")
        max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
        token_limit = min(int(max_tokens), self.completion_tokens) if max_tokens else self.completion_tokens
        self.total_requests += 1
        self.n_values[str(n)] += 1
        if seed is not None:
            self.seeds[str(seed)] += 1
        self.param_keys.update(params.keys())
        self.last_request = params
        self.authorizations[request.headers.get("Authorization", "")] += 1
        self.chat_requests += 1
        if self.served_names and params.get("model") not in self.served_names:
            self.status_counts["404"] += 1  # vLLM: a name it does not serve
            return _openai_error(404, f"The model `{params.get('model')}` does not exist.")
        prompt = hashlib.sha256(json.dumps(params.get("messages"), sort_keys=True).encode()
                                ).hexdigest()[:12] if self.tag_prompt else ""

        fault = self.faults.popleft() if self.faults else self.mode
        response = await self._apply(fault, request, n, token_limit, seed, prompt)
        self.status_counts["reset" if response is None else str(response.status)] += 1
        if response is None:  # connection aborted; nothing can be sent any more
            raise asyncio.CancelledError
        return response

    async def _apply(self, fault: dict | None, request: web.Request, n: int, token_limit: int,
                     seed, prompt: str = "") -> web.Response | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.tokens_per_s:  # the n choices are generated side by side, as an engine does
            await asyncio.sleep(token_limit / self.tokens_per_s)
        kind = str(fault.get("kind")) if fault else "ok"
        if kind in hostile_faults.KINDS:
            return await hostile_faults.apply(kind, fault, request,
                                              self._completion(n, token_limit, seed).body)
        if kind == "429":
            retry_after = fault.get("retry_after", 1)
            return _openai_error(429, "Rate limit reached (stub).", {"Retry-After": str(retry_after)})
        if kind == "401":
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return _openai_error(401, f"Incorrect API key provided: {key}.")
        if kind == "400":
            return _openai_error(400, fault.get("message", "Bad request (stub)."))
        if kind.isdigit():
            return _openai_error(int(kind), fault.get("message", f"Stub server injected HTTP {kind}."))
        if kind in BROKEN_BODIES:
            body, content_type = BROKEN_BODIES[kind](self._completion(n, token_limit, seed).body)
            return web.Response(body=body, content_type=content_type)
        if kind == "reject_n" and n > 1:
            return _json_response({"error": {"message": GEMINI_REJECT_N_MESSAGE, "code": 400,
                                             "status": "INVALID_ARGUMENT"}}, status=400)
        if kind == "reset":
            request.transport.abort()
            return None
        if kind == "stall":
            await asyncio.sleep(float(fault.get("seconds", 30)))
        if kind == "few_choices":
            n = int(fault.get("count", 1))
        return self._completion(n, token_limit, seed, prompt)

    async def control_faults(self, request: web.Request) -> web.Response:
        command = await request.json()
        if command.get("clear"):
            self.faults.clear()
        self.faults.extend(command.get("faults", []))
        if "models_fault" in command:
            self.models_fault = command["models_fault"]
        if "mode" in command:
            mode = command["mode"]
            self.mode = None if mode in (None, "ok") else (mode if isinstance(mode, dict) else {"kind": mode})
        return _json_response({"queued": list(self.faults), "mode": self.mode})

    async def control_stats(self, request: web.Request) -> web.Response:
        return _json_response({
            "total_requests": self.total_requests, "status_counts": self.status_counts,
            "n_values": self.n_values, "seeds": self.seeds, "param_keys": self.param_keys,
            "last_request": self.last_request, "authorizations": self.authorizations,
            "queued_faults": list(self.faults), "mode": self.mode})

    async def control_reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json_response({"ok": True})

    def build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/control/faults", self.control_faults)
        app.router.add_get("/control/stats", self.control_stats)
        app.router.add_post("/control/reset_stats", self.control_reset_stats)
        return app


# ---------------------------------------------------------------- capacity limit (issue 13)
# A server that can hold only so many chat requests at once answers the rest with 429, like a
# rate-limited API: what the adaptive concurrency controller is tested and benchmarked against.

def capacity_middleware(max_in_flight: int, retry_after: float):
    in_flight = 0

    @web.middleware
    async def limit(request: web.Request, handler):
        nonlocal in_flight
        if request.path != "/v1/chat/completions":
            return await handler(request)
        if in_flight >= max_in_flight:
            await request.read()
            return _openai_error(429, f"Over capacity ({max_in_flight} in flight, stub).",
                                 {"Retry-After": str(retry_after)})
        in_flight += 1
        try:
            return await handler(request)
        finally:
            in_flight -= 1

    return limit


# ---------------------------------------------------------------- a context length (issue 21)
# Like vLLM started with --max-model-len: /v1/models lists max_model_len, POST /tokenize counts a
# chat's prompt tokens (here: its words), and a chat request whose prompt tokens + max_tokens
# exceed it gets vLLM's 400.

def prompt_words(messages: list) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def context_middleware(max_model_len: int, tokenize: bool):
    rejected = 0  # chat requests answered with the 400, in /control/stats as context_rejections

    @web.middleware
    async def context(request: web.Request, handler):
        nonlocal rejected
        if request.path == "/control/stats":
            response = await handler(request)
            return _json_response({**json.loads(response.body), "context_rejections": rejected})
        if request.path == "/tokenize" and tokenize:
            body = json.loads(await request.read())
            return _json_response({"count": prompt_words(body.get("messages") or []),
                                   "max_model_len": max_model_len, "tokens": []})
        if request.path == "/v1/models":
            response = await handler(request)
            listing = json.loads(response.body)
            for entry in listing["data"]:
                entry["max_model_len"] = max_model_len
            return _json_response(listing)
        if request.path == "/v1/chat/completions":
            body = json.loads(await request.read())
            prompt = prompt_words(body.get("messages") or [])
            wanted = prompt + int(body.get("max_tokens") or 0)
            if wanted > max_model_len:
                rejected += 1
                return _openai_error(400, (
                    f"This model's maximum context length is {max_model_len} tokens. However, "
                    f"you requested {wanted} tokens ({prompt} in the messages, "
                    f"{body.get('max_tokens')} in the completion). Please reduce the length of "
                    "the messages or completion."))
        return await handler(request)

    return context


async def serve(args: argparse.Namespace) -> None:
    stub = StubApp(args.model, args.completion_tokens, args.answer_text, args.delay, args.reasoning,
                   served_names=args.served_model_name, models_route=not args.no_models_route,
                   reply_models=_names(args.reply_models), fingerprints=_names(args.fingerprints),
                   switch_after=args.switch_after, tokens_per_s=args.tokens_per_s,
                   tag_prompt=args.tag_prompt)
    app = stub.build()
    if args.max_in_flight:
        app.middlewares.append(capacity_middleware(args.max_in_flight, args.retry_after))
    if args.max_model_len:
        app.middlewares.append(context_middleware(args.max_model_len, not args.no_tokenize))
    await serve_app(app, args.host, args.port)


def _names(value: str | None) -> list[str] | None:
    return [name for name in value.split(",") if name] if value else None


async def serve_app(app: web.Application, host: str, port: int) -> None:
    """Serve `app`, print the READY line StubServer waits for, run until SIGTERM / SIGKILL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"READY http://{host}:{port}/v1", flush=True)
    await asyncio.Event().wait()


def run_until_terminated(main_coroutine) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main_coroutine)
    except (KeyboardInterrupt, SystemExit):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="stub-model")
    parser.add_argument("--completion-tokens", type=int, default=64)
    parser.add_argument("--answer-text", default=DEFAULT_ANSWER_TEXT)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--reasoning", action="store_true", help="add reasoning_content")
    parser.add_argument("--tag-prompt", action="store_true",
                        help="start each text with [prompt=HASH]: texts differ per problem")
    parser.add_argument("--max-in-flight", type=int, default=0,
                        help="answer 429 to chat requests beyond this many at once (0: no limit)")
    parser.add_argument("--retry-after", type=float, default=0.05,
                        help="Retry-After seconds sent with the --max-in-flight 429s")
    parser.add_argument("--max-model-len", type=int, default=0,
                        help="a context length, as vLLM serves one (0: none)")
    parser.add_argument("--no-tokenize", action="store_true",
                        help="with --max-model-len: no POST /tokenize")
    parser.add_argument("--served-model-name", nargs="+",
                        help="like vLLM: list these names (root = --model), answer as the first")
    parser.add_argument("--no-models-route", action="store_true",
                        help="like an Azure deployment: GET /v1/models is a 404")
    parser.add_argument("--reply-models", help="M1,M2: the model replies name (M2 after "
                        "--switch-after requests)")
    parser.add_argument("--fingerprints", help="F1,F2: the system_fingerprint of replies (F2 "
                        "after --switch-after requests)")
    parser.add_argument("--tokens-per-s", type=float, default=0.0,
                        help="generate at this steady rate: each reply takes its tokens / this "
                        "seconds, silent until it is whole (as a non-streaming engine)")
    parser.add_argument("--switch-after", type=int, default=0,
                        help="chat requests answered with M1/F1 before M2/F2 (0: never)")
    args = parser.parse_args(argv)
    run_until_terminated(serve(args))


# ---------------------------------------------------------------- test / benchmark helper

def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StubServer:
    """Runs this script as a subprocess; `with StubServer() as server: server.base_url ...`."""

    READY_TIMEOUT_S = 20.0

    def __init__(self, completion_tokens: int = 64, model: str = "stub-model",
                 answer_text: str | None = None, delay: float = 0.0, extra_args=(), port: int = 0):
        command = [sys.executable, str(Path(__file__).resolve()), "--host", "127.0.0.1",
                   "--port", str(port), "--model", model,
                   "--completion-tokens", str(completion_tokens), "--delay", str(delay)]
        if answer_text is not None:
            command += ["--answer-text", answer_text]
        command += list(extra_args)
        self.model = model
        self._launch(command)
        self.port = int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    def _launch(self, command: list[str]) -> None:
        """Start a server script that prints `READY URL`; wait for the URL (also for the batch
        and Hub stand-ins, which are other scripts)."""
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr)
        self.pid = self.process.pid
        try:
            self.base_url = self._wait_for_ready_line()
        except BaseException:
            self.kill()
            raise
        self.root_url = self.base_url[: -len("/v1")]

    def _stderr_tail(self, limit: int = 3000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def _wait_for_ready_line(self) -> str:
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        output = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.05):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    output += chunk
                    for line in output.decode(errors="replace").splitlines():
                        if line.startswith("READY "):
                            return line.split()[1]
                    if chunk:
                        continue
                if self.process.poll() is not None:
                    raise RuntimeError(f"stub server exited with code {self.process.returncode}:\n"
                                       f"{self._stderr_tail()}")
        raise TimeoutError(f"stub server not ready after {self.READY_TIMEOUT_S} s:\n{self._stderr_tail()}")

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.root_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def set_faults(self, faults: list[dict], clear: bool = False) -> dict:
        """Queue faults (FIFO, one consumed per chat request)."""
        return self._call("POST", "/control/faults", {"faults": list(faults), "clear": clear})

    def set_mode(self, mode: str | dict) -> dict:
        """A fault applied to every request until `set_mode("ok")`."""
        return self._call("POST", "/control/faults", {"mode": mode})

    def set_models_fault(self, fault: dict | None) -> dict:
        """A fault for GET /v1/models (None: answer normally)."""
        return self._call("POST", "/control/faults", {"models_fault": fault})

    def stats(self) -> dict:
        return self._call("GET", "/control/stats")

    def reset_stats(self) -> dict:
        return self._call("POST", "/control/reset_stats", {})

    def _close_pipes(self) -> None:
        for stream in (self.process.stdout, self._stderr):
            if stream and not stream.closed:
                stream.close()

    def stop(self) -> None:
        """terminate → wait(5) → kill."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL: the server goes away mid-run."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def __enter__(self) -> "StubServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


if __name__ == "__main__":
    main()
