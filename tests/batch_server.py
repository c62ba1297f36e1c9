"""A local OpenAI-style batch API on 127.0.0.1 for tests: /v1/files, /v1/batches, file content.

Run:  python tests/batch_server.py --port 0 [--complete-after S] [--reject-n] [--max-choices N]
prints `READY http://127.0.0.1:PORT/v1`. A batch is `in_progress` until S seconds after it was
created, then `completed` with an output file (one chat completion per line, n choices, each text
tagged with its custom_id and choice) and, where lines failed, an error file. --reject-n fails
every line whose body has n > 1 with a 400, as Gemini 3 does; --max-choices N answers at most N
choices per line. --end-status failed|expired|cancelled ends every batch so: `failed` with no
output and a reason in `errors`, `expired` / `cancelled` with output for the first half of the
lines only. --bad-lines makes the output hostile: the first line's body is not a chat completion
(content 5), the second line's custom_id is the bare problem id, and a line that is not JSON and
one whose custom_id names no problem are added. --trickle S answers every /v1 call with 200
headers, then one byte every S seconds, never ending (a batch API that holds its client);
--reply-model M names M in every reply (an Azure deployment answering with its snapshot).
--echo-key echoes the Bearer key it was sent, as a careless provider might: the first line is an
error whose message holds the key after 190 characters (where a 200-character cut falls inside
it), and a line whose custom_id is the key is added. GET /control/stats counts uploads, batches
and retrievals. `BatchServer` starts it as a subprocess.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from aiohttp import web

import hostile_faults
from stub_server import StubServer, run_until_terminated, serve_app

ANSWER = r"The answer is (A). \boxed{42}"


class BatchApp:
    def __init__(self, complete_after: float, reject_n: bool, max_choices: int = 0,
                 end_status: str = "completed", bad_lines: bool = False,
                 trickle: float = 0.0, reply_model: str = "", echo_key: bool = False) -> None:
        self.complete_after, self.reject_n = complete_after, reject_n
        self.reply_model = reply_model  # the model replies name (default: the one asked)
        self.trickle, self.trickled = trickle, 0
        self.echo_key, self.key = echo_key, ""
        self.end_status, self.bad_lines = end_status, bad_lines
        self.max_choices = max_choices
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.retrieves = 0

    def _new_file(self, content: bytes, filename: str, purpose: str) -> dict:
        file_id = f"file-{next(self.ids)}"
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content),
                               "created_at": int(time.time()), "filename": filename,
                               "purpose": purpose, "status": "processed", "_content": content}
        return self.files[file_id]

    @staticmethod
    def _public(record: dict) -> dict:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    async def create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        record = self._new_file(upload.file.read(), upload.filename, form.get("purpose", ""))
        return web.json_response(self._public(record))

    async def file_content(self, request: web.Request) -> web.Response:
        record = self.files.get(request.match_info["file_id"])
        if record is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=record["_content"], content_type="application/jsonl")

    async def create_batch(self, request: web.Request) -> web.Response:
        self.key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        params = await request.json()
        if params.get("input_file_id") not in self.files:
            return web.json_response({"error": {"message": "no such input file"}}, status=400)
        batch_id = f"batch_{next(self.ids)}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": params["endpoint"],
            "input_file_id": params["input_file_id"], "completion_window": "24h",
            "status": "in_progress", "created_at": int(time.time()),
            "metadata": params.get("metadata"), "output_file_id": None, "error_file_id": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "_ready_at": time.monotonic() + self.complete_after}
        return web.json_response(self._public(self.batches[batch_id]))

    async def retrieve_batch(self, request: web.Request) -> web.Response:
        self.retrieves += 1
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        if batch["status"] == "in_progress" and time.monotonic() >= batch["_ready_at"]:
            self._complete(batch)
        return web.json_response(self._public(batch))

    def _complete(self, batch: dict) -> None:
        if self.end_status == "failed":
            batch.update(status="failed", failed_at=int(time.time()), errors={
                "object": "list", "data": [{"code": "invalid_request", "line": None, "param": None,
                                            "message": "stub: the input file failed validation"}]})
            return
        outputs, errors = [], []
        raws = self.files[batch["input_file_id"]]["_content"].decode().splitlines()
        if self.end_status in ("expired", "cancelled"):
            raws = raws[: max(1, len(raws) // 2)]
        for raw in raws:
            line = json.loads(raw)
            body, cid = line["body"], line["custom_id"]
            n = int(body.get("n") or 1)
            if self.reject_n and n > 1:
                errors.append({"id": f"req-{next(self.ids)}", "custom_id": cid, "error": None,
                               "response": {"status_code": 400, "body": {"error": {
                                   "message": "Multiple candidates is not enabled."}}}})
                continue
            answered = min(n, self.max_choices or n)
            choices = [{"index": i, "finish_reason": "stop", "message": {
                "role": "assistant", "content": f"[{cid} choice={i} seed={body.get('seed')}] "
                                                f"{ANSWER}"}} for i in range(answered)]
            outputs.append({"id": f"req-{next(self.ids)}", "custom_id": cid, "error": None,
                            "response": {"status_code": 200, "request_id": cid, "body": {
                                "id": f"chatcmpl-{cid}", "object": "chat.completion",
                                "created": int(time.time()),
                                "model": self.reply_model or body["model"],
                                "choices": choices, "usage": {
                                    "prompt_tokens": 10, "completion_tokens": 8 * n,
                                    "total_tokens": 10 + 8 * n}}}})
        texts = [json.dumps(x) for x in outputs]
        if self.bad_lines and len(outputs) >= 2:
            first = json.loads(texts[0])
            first["response"]["body"]["choices"][0]["message"]["content"] = 5
            second = json.loads(texts[1])
            second["custom_id"] = second["custom_id"].rsplit("::", 1)[0]
            texts[:2] = [json.dumps(first), json.dumps(second)]
            texts += ['{"custom_id": "torn', json.dumps({**outputs[-1], "custom_id": "x::y"})]
        if self.echo_key and outputs:
            texts[0] = json.dumps({**outputs[0], "response": None, "error": {
                "code": "bad", "message": "x" * 190 + self.key + " was refused"}})
            texts.append(json.dumps({**outputs[-1], "custom_id": f"{self.key}::0"}))
        for kind, lines in (("output_file_id", texts), ("error_file_id",
                                                        [json.dumps(x) for x in errors])):
            if lines:
                content = "".join(x + "\n" for x in lines).encode()
                batch[kind] = self._new_file(content, f"{batch['id']}-{kind}.jsonl",
                                             "batch_output")["id"]
        batch["status"] = self.end_status
        batch[f"{self.end_status}_at"] = int(time.time())
        batch["request_counts"] = {"total": len(outputs) + len(errors),
                                   "completed": len(outputs), "failed": len(errors)}

    async def stats(self, request: web.Request) -> web.Response:
        uploads = sum(f["purpose"] == "batch" for f in self.files.values())
        return web.json_response({"uploads": uploads, "batches": len(self.batches),
                                  "retrieves": self.retrieves,
                                  "trickled": self.trickled})

    @web.middleware
    async def trickling(self, request: web.Request, handler):
        if not self.trickle or not request.path.startswith("/v1/"):
            return await handler(request)
        self.trickled += 1
        await request.read()
        return await hostile_faults.trickle(request, {"interval": self.trickle,
                                                      "seconds": 3600})

    def build(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024, middlewares=[self.trickling])
        app.router.add_post("/v1/files", self.create_file)
        app.router.add_get("/v1/files/{file_id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.create_batch)
        app.router.add_get("/v1/batches/{batch_id}", self.retrieve_batch)
        app.router.add_get("/control/stats", self.stats)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--complete-after", type=float, default=0.0)
    parser.add_argument("--reject-n", action="store_true")
    parser.add_argument("--max-choices", type=int, default=0, help="answer at most this many")
    parser.add_argument("--end-status", default="completed",
                        choices=["completed", "failed", "expired", "cancelled"])
    parser.add_argument("--bad-lines", action="store_true")
    parser.add_argument("--trickle", type=float, default=0.0, metavar="S",
                        help="answer every /v1 call with one byte every S seconds, forever")
    parser.add_argument("--reply-model", default="",
                        help="replies name this model (an Azure deployment's snapshot)")
    parser.add_argument("--echo-key", action="store_true")
    args = parser.parse_args()
    app = BatchApp(args.complete_after, args.reject_n, args.max_choices, args.end_status,
                   args.bad_lines, args.trickle, args.reply_model, args.echo_key)
    run_until_terminated(serve_app(app.build(), "127.0.0.1", args.port))


class BatchServer(StubServer):
    """`with BatchServer(complete_after=1.0) as server: server.base_url, server.stats()`."""

    def __init__(self, complete_after: float = 0.0, reject_n: bool = False,
                 max_choices: int = 0, end_status: str = "completed",
                 bad_lines: bool = False, trickle: float = 0.0, reply_model: str = "",
                 echo_key: bool = False) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0",
                   "--complete-after", str(complete_after), "--max-choices", str(max_choices),
                   "--end-status", end_status, "--trickle", str(trickle),
                   "--reply-model", reply_model]
        command += ["--reject-n"] if reject_n else []
        command += ["--bad-lines"] if bad_lines else []
        command += ["--echo-key"] if echo_key else []
        self.model = "batch-model"
        self._launch(command)


if __name__ == "__main__":
    main()
