"""Which model answered (issue 24 item 4, issue 28 item 5), through the real CLI against stubs
answering as real servers do: vLLM with several served names, an Azure deployment, llama.cpp's
server without --alias, an alias swapped mid-run; a model the endpoint does not serve is still
refused, and an endpoint of a pool answering as another model is taken out of the pool."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectkit.store import append as store
from collectkit.collect.model_identity import ModelIdentity, WrongModel, lists_model, served_names
from stub_server import StubServer

SECRET = "sk-test-SECRET-identity-0123456789"
GGUF = "/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"


def collectkit_run(urls: list[str], model: str, out: Path, *args: str,
                   problems: int = 4) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "collectkit", "run", "--model", model,
               *(arg for url in urls for arg in ("--api-base", url)),
               "--num-problems", str(problems), "--k-responses", "2", "--max-tokens", "16",
               "--max-retries", "0", "--request-timeout", "10", "--retry-backoff-s", "0.05",
               "--output-file", str(out), "--quiet", *args]
    return subprocess.run(command, cwd=out.parent, capture_output=True, text=True, timeout=120)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def last_run(out: Path) -> dict:
    return json.loads(store.manifest_path(out).read_text())["runs"][-1]


@pytest.mark.parametrize("server, model, mode, answered", [
    # vLLM `--served-model-name Qwen/Qwen2.5-7B-Instruct qwen7b` answers qwen7b as the first
    (dict(model="/data/qwen2.5-7b", extra_args=["--served-model-name",
                                                "Qwen/Qwen2.5-7B-Instruct", "qwen7b"]),
     "qwen7b", "local", "Qwen/Qwen2.5-7B-Instruct"),
    # Azure OpenAI: deployment `prod-chat`, no /v1/models, replies name the snapshot
    (dict(model="gpt-4o-2024-08-06", extra_args=["--no-models-route"]),
     "prod-chat", "remote", "gpt-4o-2024-08-06"),
    # llama.cpp's server without --alias lists and answers with its file path
    (dict(model=GGUF), "Qwen2.5-0.5B-Instruct-Q4_K_M", "local", GGUF),
], ids=["vllm_served_names", "azure_deployment", "llamacpp_no_alias"])
def test_runs_against_real_servers_naming_finish(tmp_path, server, model, mode, answered):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, **server) as stub:
        done = collectkit_run([stub.base_url], model, out, "--api-mode", mode,
                              "--api-key", SECRET)
    assert done.returncode == 0, done.stderr
    assert len(rows(out)) == 4 and not rows(store.errors_path(out))
    assert {r["model"] for row in rows(out) for r in row["responses"]} == {answered}
    identity = last_run(out)["models"]
    assert identity["answered"] == {answered: 4} and identity["refused"] == {}
    assert identity["requested"] == model


def test_an_azure_deployment_is_learnt_once_and_said(tmp_path):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, model="gpt-4o-2024-08-06",
                    extra_args=["--no-models-route"]) as stub:
        done = collectkit_run([stub.base_url], "prod-chat", out, "--api-mode", "remote",
                              "--api-key", SECRET)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("lists no models; its replies name 'gpt-4o-2024-08-06'") == 1
    assert last_run(out)["models"]["endpoints"][0]["lists"] is None


@pytest.mark.parametrize("server, model, mode, refused", [
    # a vLLM replica that answers as a model it does not list
    (dict(model="/data/qwen", extra_args=["--served-model-name", "qwen7b", "--reply-models",
                                          "llama-3-8b"]), "qwen7b", "local", "llama-3-8b"),
    # a deployment whose replies turn into another model (not a snapshot of the first)
    (dict(model="gpt-4o-2024-08-06", extra_args=[
        "--no-models-route", "--reply-models", "gpt-4o-2024-08-06,gpt-35-turbo-0125",
        "--switch-after", "2"]), "prod-chat", "remote", "gpt-35-turbo-0125"),
    # llama.cpp serving another file than --model names
    (dict(model=GGUF, extra_args=["--reply-models", "/models/other.gguf"]),
     "Qwen2.5-0.5B-Instruct-Q4_K_M", "local", "/models/other.gguf"),
], ids=["vllm_other_model", "deployment_turns_other", "llamacpp_other_file"])
def test_a_model_the_endpoint_does_not_serve_is_still_refused(tmp_path, server, model, mode,
                                                               refused):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, **server) as stub:
        done = collectkit_run([stub.base_url], model, out, "--api-mode", mode, "--api-key",
                              SECRET, "--max-attempts", "1", "--batch-size", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    errors = rows(store.errors_path(out))
    assert errors and all(e["counted"] and f"answered by model {refused!r}" in e["error"]
                          for e in errors)
    assert all(r["model"] != refused for row in rows(out) for r in row["responses"])
    assert last_run(out)["models"]["refused"] == {refused: len(errors)}


def test_a_model_not_listed_is_refused_before_anything_is_sent(tmp_path):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, model="/data/qwen",
                    extra_args=["--served-model-name", "qwen7b"]) as stub:
        done = collectkit_run([stub.base_url], "llama-3-8b", out)
        assert stub.stats()["total_requests"] == 0
    assert done.returncode == 2 and "serves qwen7b, not llama-3-8b" in done.stderr


@pytest.mark.parametrize("flags, field, first, then", [
    (["--fingerprints", "fp_a1,fp_b2"], "system_fingerprint", "fp_a1", "fp_b2"),
    (["--no-models-route", "--reply-models", "gpt-4o-2024-08-06,gpt-4o-2024-11-20"], "model",
     "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
], ids=["fingerprint", "snapshot"])
def test_a_change_during_the_run_is_warned_once_and_counted(tmp_path, flags, field, first, then):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, model="gpt-4o-2024-08-06",
                    extra_args=[*flags, "--switch-after", "3"]) as stub:
        done = collectkit_run([stub.base_url], "gpt-4o", out, "--api-mode", "remote",
                              "--api-key", SECRET, "--batch-size", "1", problems=6)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"the answering {field} changed during the run") == 1
    assert f"{first!r} → {then!r}" in done.stderr
    identity = last_run(out)["models"]
    counts = identity["system_fingerprints" if field == "system_fingerprint" else "answered"]
    assert counts == {first: 3, then: 3}
    assert identity["changes"][0] == {"endpoint": identity["endpoints"][0]["url"],
                                      "field": field, "from": first, "to": then}


def test_an_endpoint_answering_as_another_model_leaves_the_pool(tmp_path):
    """28.5: it is taken out with one warning saying why, its requests go to the others and no
    attempt is counted; the manifest says which endpoint and why."""
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, delay=0.05) as good, \
            StubServer(completion_tokens=8, delay=0.05,
                       extra_args=["--reply-models", "other-model"]) as bad:
        done = collectkit_run([good.base_url, bad.base_url], "stub-model", out,
                              "--max-attempts", "1", "--batch-size", "4", problems=12)
        sent_to_bad = bad.stats()["total_requests"]
    assert done.returncode == 0, done.stderr
    assert len(rows(out)) == 12 and not rows(store.errors_path(out))
    assert all(r["model"] == "stub-model" for row in rows(out) for r in row["responses"])
    assert done.stderr.count("taken out of the pool") == 1
    assert f"{bad.base_url} taken out of the pool for the rest of the run: answered by model " \
           "'other-model'" in done.stderr
    assert sent_to_bad <= 4  # only what was in flight when its first reply came back
    endpoints = {e["url"]: e for e in last_run(out)["endpoints"]}
    assert "other-model" in endpoints[bad.base_url]["taken_out"]
    assert "taken_out" not in endpoints[good.base_url]


def test_the_last_endpoint_is_never_taken_out(tmp_path):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, extra_args=["--reply-models", "other-model"]) as a, \
            StubServer(completion_tokens=8, extra_args=["--reply-models", "other-model"]) as b:
        done = collectkit_run([a.base_url, b.base_url], "stub-model", out, "--max-attempts",
                              "2", "--batch-size", "1", problems=2)
    assert done.returncode == 1 and done.stderr.count("taken out of the pool") == 1
    assert len(rows(store.errors_path(out))) == 4  # counted: no endpoint serves the model


@pytest.mark.parametrize("requested, listing, names", [
    ("qwen7b", [("Qwen/Qwen2.5-7B-Instruct", "/data/q"), ("qwen7b", "/data/q")],
     {"Qwen/Qwen2.5-7B-Instruct", "qwen7b", "/data/q"}),
    ("Qwen2.5-0.5B-Instruct-Q4_K_M", [(GGUF, None)], {GGUF}),
    ("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", [(GGUF, None)], {GGUF}),
    ("qwen7b", [("llama", "/data/l"), ("qwen7b", "/data/q")], {"qwen7b", "/data/q"}),
    ("stub-model", [("other-model", None)], set()),
])
def test_served_names(requested, listing, names):
    assert served_names(requested, listing) == names


def test_vllm_names_must_be_exact_at_start_but_a_gguf_may_be_named_by_its_file():
    assert lists_model("qwen7b", ["Qwen/Qwen2.5-7B-Instruct", "qwen7b"])
    assert not lists_model("Qwen2.5-7B-Instruct", ["Qwen/Qwen2.5-7B-Instruct"])  # vLLM: 404
    assert lists_model("Qwen2.5-0.5B-Instruct-Q4_K_M", [GGUF])
    assert not lists_model("Qwen2.5", [GGUF, 5])


def test_an_endpoint_listing_nothing_keeps_the_model_of_its_first_reply():
    identity = ModelIdentity("gpt-4o")
    identity.check("u", "gpt-4o-2024-08-06", None, ask=lambda: None)  # a snapshot: no ask
    with pytest.raises(WrongModel, match="lists no models and answered first as"):
        identity.check("u", "gpt-4o-mini-2024-07-18", None, ask=lambda: None)
