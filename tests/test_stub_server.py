"""The fault-injecting stub server, driven over a real socket by the real openai SDK."""
import asyncio
import json

import openai
import pytest

try:
    from stub_server import StubServer
except ImportError:  # tests/ imported as a package
    from tests.stub_server import StubServer

MESSAGES = [{"role": "user", "content": "What is 6 * 7?"}]


@pytest.fixture(scope="module")
def shared_server():
    with StubServer(completion_tokens=16) as server:
        yield server


@pytest.fixture
def server(shared_server):
    shared_server.set_faults([], clear=True)
    shared_server.set_mode("ok")
    shared_server.reset_stats()
    return shared_server


def sync_client(server, **options):
    return openai.OpenAI(base_url=server.base_url, api_key="stub", max_retries=0, **options)


def chat(server, client_options=None, **params):
    client = sync_client(server, **(client_options or {}))
    with client:
        return client.chat.completions.create(model=server.model, messages=MESSAGES, **params)


def test_models_lists_the_model_id(server):
    with sync_client(server) as client:
        assert [model.id for model in client.models.list()] == ["stub-model"]


def test_n_choices_seed_and_usage(server):
    response = chat(server, n=3, seed=11)
    assert [choice.index for choice in response.choices] == [0, 1, 2]
    assert all(choice.finish_reason == "stop" for choice in response.choices)
    assert all(choice.message.role == "assistant" for choice in response.choices)
    contents = [choice.message.content for choice in response.choices]
    assert len(set(contents)) == 3 and all("seed=11" in content for content in contents)
    assert all(content.endswith(r"The answer is (A). \boxed{42}") for content in contents)
    assert response.usage.completion_tokens == 3 * 16
    assert response.usage.total_tokens == response.usage.prompt_tokens + 3 * 16


def test_max_tokens_cuts_with_finish_reason_length(server):
    response = chat(server, max_tokens=5)
    choice = response.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content.split()[1:] == ["tok"] * 5
    assert response.usage.completion_tokens == 5


def test_answer_text_and_reasoning_are_configurable():
    with StubServer(completion_tokens=4, answer_text="Answer: C",
                    extra_args=["--reasoning"]) as server:
        message = chat(server).choices[0].message
        assert message.content.endswith("tok tok Answer: C")
        assert message.model_extra["reasoning_content"]


@pytest.mark.parametrize("fault, error_type", [
    ({"kind": "429", "retry_after": 1}, openai.RateLimitError),
    ({"kind": "500"}, openai.InternalServerError),
    ({"kind": "503"}, openai.InternalServerError),
    ({"kind": "400", "message": "context too long"}, openai.BadRequestError),
    ({"kind": "reject_n"}, openai.BadRequestError),
    ({"kind": "reset"}, openai.APIConnectionError),
])
def test_each_fault_kind_raises_its_sdk_error(server, fault, error_type):
    server.set_faults([fault])

    async def request_then_recover():
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="stub", max_retries=0)
        async with client:
            with pytest.raises(error_type) as raised:
                await client.chat.completions.create(model=server.model, messages=MESSAGES, n=2)
            recovered = await client.chat.completions.create(model=server.model, messages=MESSAGES)
            return raised.value, recovered

    error, recovered = asyncio.run(request_then_recover())
    assert type(error) is error_type
    assert recovered.choices[0].finish_reason == "stop"  # the queue held one fault only
    if fault["kind"] == "429":
        assert error.response.headers["retry-after"] == "1"
    if fault["kind"] == "reject_n":
        assert "Multiple candidates is not enabled" in str(error)
    expected_status = "reset" if fault["kind"] == "reset" else str(getattr(error, "status_code", ""))
    assert server.stats()["status_counts"] == {expected_status: 1, "200": 1}


def test_faults_are_consumed_in_order(server):
    server.set_faults([{"kind": "500"}, {"kind": "400"}])
    with pytest.raises(openai.InternalServerError):
        chat(server)
    with pytest.raises(openai.BadRequestError):
        chat(server)
    assert chat(server).choices


def test_stall_hits_the_client_timeout(server):
    server.set_faults([{"kind": "stall", "seconds": 2}])
    with pytest.raises(openai.APITimeoutError):
        chat(server, client_options={"timeout": 0.3})


def test_sdk_retry_honours_retry_after_then_succeeds(server):
    server.set_faults([{"kind": "429", "retry_after": 0.2}])
    with openai.OpenAI(base_url=server.base_url, api_key="stub", max_retries=2) as client:
        response = client.chat.completions.create(model=server.model, messages=MESSAGES)
    assert response.choices[0].finish_reason == "stop"
    assert server.stats()["status_counts"] == {"429": 1, "200": 1}


def test_persistent_reject_n_mode_serves_n_equal_1(server):
    server.set_mode("reject_n")
    for _ in range(2):
        with pytest.raises(openai.BadRequestError, match="Multiple candidates"):
            chat(server, n=4)
    assert len(chat(server, n=1).choices) == 1
    server.set_mode("ok")
    assert len(chat(server, n=4).choices) == 4


def test_persistent_error_mode_until_ok(server):
    server.set_mode("503")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            chat(server)
    server.set_mode("ok")
    assert chat(server).choices
    assert server.stats()["status_counts"] == {"503": 3, "200": 1}


def test_few_choices_returns_one_choice(server):
    server.set_faults([{"kind": "few_choices"}])
    assert len(chat(server, n=4).choices) == 1
    assert len(chat(server, n=4).choices) == 4


def test_stats_report_parameters_including_extra_body(server):
    chat(server, n=2, seed=5, temperature=0.7,
         extra_body={"repetition_penalty": 1.1, "top_k": 20})
    chat(server, seed=6)
    stats = server.stats()
    assert stats["total_requests"] == 2
    assert stats["n_values"] == {"2": 1, "1": 1}
    assert stats["seeds"] == {"5": 1, "6": 1}
    assert stats["param_keys"]["repetition_penalty"] == 1
    assert stats["param_keys"]["top_k"] == 1
    assert stats["param_keys"]["messages"] == 2
    assert stats["last_request"]["seed"] == 6
    server.reset_stats()
    assert server.stats()["total_requests"] == 0


def test_killed_server_gives_connection_error():
    server = StubServer()
    try:
        assert chat(server).choices
        server.kill()
        assert server.process.poll() is not None
        with pytest.raises(openai.APIConnectionError):
            chat(server)
    finally:
        server.stop()


def test_child_that_fails_to_start_reports_its_stderr():
    with pytest.raises(RuntimeError, match="unrecognized arguments"):
        StubServer(extra_args=["--no-such-flag"])


def raw_post(server, key="stub-key-123456"):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.base_url + "/chat/completions", method="POST",
        data=json.dumps({"model": server.model, "messages": MESSAGES, "n": 2}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


@pytest.mark.parametrize("kind,content_type,check", [
    ("truncated_json", "application/json", lambda body: body.startswith(b'{"id"')),
    ("text_plain", "text/plain", lambda body: not body.startswith(b"{")),
    ("empty_object", "application/json", lambda body: body == b"{}"),
    ("empty_choices", "application/json", lambda body: json.loads(body)["choices"] == []),
])
def test_broken_200_bodies(server, kind, content_type, check):
    server.set_faults([{"kind": kind}])
    status, sent_type, body = raw_post(server)
    assert status == 200 and sent_type == content_type and check(body)
    if kind == "truncated_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


def test_few_choices_count_and_auth_errors(server):
    server.set_faults([{"kind": "few_choices", "count": 0}, {"kind": "401"}, {"kind": "403"},
                       {"kind": "404"}])
    assert json.loads(raw_post(server)[2])["choices"] == []
    status, _, body = raw_post(server, key="echo-me-please")
    assert status == 401 and "echo-me-please" in json.loads(body)["error"]["message"]
    assert [raw_post(server)[0] for _ in range(2)] == [403, 404]
    assert server.stats()["authorizations"] == {"Bearer stub-key-123456": 3,
                                                "Bearer echo-me-please": 1}
