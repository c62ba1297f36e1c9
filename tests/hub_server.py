"""A local stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for tests of `--push-to-hub`.

Run:  python tests/hub_server.py --port 0   → prints `READY http://127.0.0.1:PORT/v1`; point
HF_ENDPOINT at http://127.0.0.1:PORT and huggingface_hub talks to it over a real socket.

It answers what `HfApi.create_repo`, `repo_info` and `create_commit` send for a dataset:
  POST /api/repos/create                        records name, organization, visibility; 409 if it exists
  GET  /api/datasets/ORG/NAME[/revision/REV]    {"id", "private", "sha"}
  POST /api/validate-yaml                       no errors
  POST /api/datasets/ORG/NAME/preupload/REV     every file "regular" (sent inline in the commit)
  POST /api/datasets/ORG/NAME/commit/REV        records each file's path and bytes (NDJSON body)
Control:
  GET  /control/state   {"repos": {id: {"private", "created_with"}}, "commits": [{repo, files}],
                         "authorizations": [...]}; files map path → sha256 of the bytes
  POST /control/repo    {"id", "private"}: a repository that exists already
  POST /control/echo_token {"pad": N}: create_repo answers 401 with a message that echoes the
                         Bearer token (after N filler characters, then again and again), as a
                         careless server might
`HubServer` starts it as a subprocess (tests/stub_server.py's StubServer machinery).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

from aiohttp import web

from stub_server import StubServer, run_until_terminated, serve_app


class HubApp:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.commits: list[dict] = []
        self.authorizations: list[str] = []
        self.echo_pad: int | None = None

    def _seen(self, request: web.Request) -> None:
        self.authorizations.append(request.headers.get("Authorization", ""))

    async def create_repo(self, request: web.Request) -> web.Response:
        self._seen(request)
        body = await request.json()
        if self.echo_pad is not None:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            message = "x" * self.echo_pad + "".join(token for _ in range(12))
            return web.json_response({"error": f"Invalid credentials {message}"}, status=401)
        repo_id = f"{body.get('organization')}/{body.get('name')}"
        if repo_id in self.repos:
            return web.json_response({"error": "You already created this dataset repo",
                                      "url": self._url(request, repo_id)}, status=409)
        self.repos[repo_id] = {"private": body.get("visibility") == "private",
                               "created_with": body}
        return web.json_response({"url": self._url(request, repo_id), "name": repo_id})

    @staticmethod
    def _url(request: web.Request, repo_id: str) -> str:
        return f"http://{request.host}/datasets/{repo_id}"

    def _repo(self, request: web.Request) -> str:
        return f"{request.match_info['org']}/{request.match_info['name']}"

    async def repo_info(self, request: web.Request) -> web.Response:
        self._seen(request)
        repo = self.repos.get(self._repo(request))
        if repo is None:
            return web.json_response({"error": "Repository not found"}, status=404,
                                     headers={"X-Error-Code": "RepoNotFound"})
        return web.json_response({"id": self._repo(request), "private": repo["private"],
                                  "sha": "0" * 40, "siblings": []})

    async def validate_yaml(self, request: web.Request) -> web.Response:
        return web.json_response({"errors": [], "warnings": []})

    async def preupload(self, request: web.Request) -> web.Response:
        self._seen(request)
        body = await request.json()
        return web.json_response({"files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for f in body["files"]]})

    async def commit(self, request: web.Request) -> web.Response:
        self._seen(request)
        files = {}
        for raw in (await request.read()).splitlines():
            item = json.loads(raw)
            if item.get("key") == "file":
                value = item["value"]
                data = base64.b64decode(value["content"])
                files[value["path"]] = hashlib.sha256(data).hexdigest()
        self.commits.append({"repo": self._repo(request), "files": files})
        return web.json_response({"commitUrl": f"http://{request.host}/datasets/"
                                  f"{self._repo(request)}/commit/{'a' * 40}",
                                  "commitOid": "a" * 40, "success": True})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response({"repos": self.repos, "commits": self.commits,
                                  "authorizations": self.authorizations})

    async def add_repo(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.repos[body["id"]] = {"private": bool(body["private"]), "created_with": None}
        return web.json_response({"ok": True})

    async def echo_token(self, request: web.Request) -> web.Response:
        self.echo_pad = int((await request.json()).get("pad", 0))
        return web.json_response({"ok": True})

    def build(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        repo = "/api/datasets/{org}/{name}"
        app.router.add_post("/api/repos/create", self.create_repo)
        app.router.add_get(repo, self.repo_info)
        app.router.add_get(repo + "/revision/{revision}", self.repo_info)
        app.router.add_post("/api/validate-yaml", self.validate_yaml)
        app.router.add_post(repo + "/preupload/{revision}", self.preupload)
        app.router.add_post(repo + "/commit/{revision}", self.commit)
        app.router.add_get("/control/state", self.state)
        app.router.add_post("/control/repo", self.add_repo)
        app.router.add_post("/control/echo_token", self.echo_token)
        return app


class HubServer(StubServer):
    """`with HubServer() as hub: env HF_ENDPOINT=hub.root_url …; hub.state()`."""

    def __init__(self) -> None:
        self.model = "hub"
        self._launch([sys.executable, str(Path(__file__).resolve()), "--port", "0"])

    def state(self) -> dict:
        return self._call("GET", "/control/state")

    def add_repo(self, repo_id: str, private: bool) -> dict:
        return self._call("POST", "/control/repo", {"id": repo_id, "private": private})

    def echo_token(self, pad: int) -> dict:
        return self._call("POST", "/control/echo_token", {"pad": pad})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    run_until_terminated(serve_app(HubApp().build(), "127.0.0.1", args.port))


if __name__ == "__main__":
    main()
