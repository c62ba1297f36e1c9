"""Settings: defaults < .env < environment < overrides, validation, and keeping the key secret."""
from __future__ import annotations

import dataclasses
import json

import pytest

from collectkit.collect.settings import DEFAULT_STOP, EMBEDDED_MODEL, ConfigError, Settings

SECRET = "sk-test-very-secret-0123456789"


def load(overrides=None, env_file=None, **environ):
    return Settings.load(overrides, env_file=env_file, environ=environ)


@pytest.fixture
def dotenv(tmp_path):
    def write(text: str):
        path = tmp_path / ".env"
        path.write_text(text)
        return path
    return write


# -------------------------------------------------------------------------------------- defaults

@pytest.mark.parametrize("settings", [Settings(), load()], ids=["constructor", "load"])
def test_defaults(settings):
    assert settings.api_mode == "local"
    assert settings.model == EMBEDDED_MODEL == "smollm2-135m-instruct"
    assert settings.temperature == 0.7
    assert settings.max_tokens == 2048
    assert "<end_of_turn>" in settings.stop and "<|im_end|>" in settings.stop
    assert len(settings.stop) <= 4  # OpenAI accepts at most 4 stop sequences
    assert settings.max_attempts == 3
    assert settings.api_key is None
    assert settings.base_url == "http://127.0.0.1:8000/v1"
    assert settings.problem_limit is None
    assert (settings.tensor_parallel_size, settings.gpu_util) == (1, 0.95)
    assert settings.enforce_eager is True


def test_load_with_nothing_set_equals_the_constructor_defaults():
    assert load() == Settings()


def test_settings_are_frozen_and_replace_ignores_none():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.temperature = 1.0  # type: ignore[misc]
    changed = settings.replace(temperature=0.0, max_tokens=None)
    assert (changed.temperature, changed.max_tokens, settings.temperature) == (0.0, 2048, 0.7)
    with pytest.raises(ConfigError, match="max_tokens"):
        settings.replace(max_tokens=0)


# ------------------------------------------------------------------------------------ precedence

def test_precedence_override_over_environment_over_dotenv_over_default(dotenv):
    env_file = dotenv("COLLECTKIT_MODEL=from-dotenv\n"
                      "COLLECTKIT_TEMPERATURE=0.1\n"
                      "COLLECTKIT_MAX_TOKENS=100\n")
    settings = Settings.load(
        {"model": "from-cli", "max_attempts": None},  # None means "flag not given"
        env_file=env_file,
        environ={"COLLECTKIT_MODEL": "from-env", "COLLECTKIT_TEMPERATURE": "0.2",
                 "COLLECTKIT_MAX_ATTEMPTS": "5"})
    assert settings.model == "from-cli"        # override beats everything
    assert settings.temperature == 0.2          # environment beats .env
    assert settings.max_attempts == 5           # environment, the override was None
    assert settings.max_tokens == 100           # .env beats the default
    assert settings.k_responses == 4            # default


def test_empty_environment_value_counts_as_unset():
    settings = load(COLLECTKIT_K_RESPONSES="", COLLECTKIT_TEMPERATURE="")
    assert (settings.k_responses, settings.temperature) == (4, 0.7)  # defaults, not a parse error


def test_dotenv_file_alone_is_read(dotenv):
    env_file = dotenv('COLLECTKIT_API_MODE=remote\nCOLLECTKIT_MODEL="gpt-4o-mini"\n'
                      "COLLECTKIT_STOP=###,<|im_end|>\n")
    settings = Settings.load(env_file=env_file, environ={})
    assert (settings.api_mode, settings.model) == ("remote", "gpt-4o-mini")
    assert settings.stop == ("###", "<|im_end|>")
    assert settings.base_url == "https://api.openai.com/v1"


def test_missing_dotenv_file_is_fine(tmp_path):
    assert Settings.load(env_file=tmp_path / "absent.env", environ={}) == Settings()


def test_string_overrides_are_parsed_like_environment_values():
    settings = load({"temperature": "0", "k_responses": "2", "enforce_eager": "false",
                     "num_problems": " ALL ", "stop": ["</s>"]})
    assert settings.temperature == 0.0 and settings.k_responses == 2
    assert settings.enforce_eager is False
    assert settings.num_problems == "all" and settings.problem_limit is None
    assert settings.stop == ("</s>",)
    assert load({"num_problems": 25}).problem_limit == 25


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("Yes", True), ("on", True),
                                           ("0", False), ("false", False), ("NO", False)])
def test_boolean_values(raw, expected):
    assert load(COLLECTKIT_ENFORCE_EAGER=raw).enforce_eager is expected


def test_optional_numbers_can_be_cleared():
    settings = load(COLLECTKIT_SEED="none", COLLECTKIT_TOP_P="none")
    assert settings.seed is None and settings.top_p is None
    assert load(COLLECTKIT_SEED="7", COLLECTKIT_TOP_P="0.9").seed == 7


# --------------------------------------------------------------------------------------- aliases

def test_vllm_tensor_parallel_size_alias(dotenv):
    assert load(VLLM_TENSOR_PARALLEL_SIZE="4").tensor_parallel_size == 4
    both = load(VLLM_TENSOR_PARALLEL_SIZE="4", COLLECTKIT_TENSOR_PARALLEL_SIZE="2")
    assert both.tensor_parallel_size == 2  # the kit's own name wins
    assert Settings.load(env_file=dotenv("VLLM_TENSOR_PARALLEL_SIZE=8\n"),
                         environ={}).tensor_parallel_size == 8
    flag = load({"tensor_parallel_size": 1}, VLLM_TENSOR_PARALLEL_SIZE="4")
    assert flag.tensor_parallel_size == 1  # a CLI flag beats the alias


def test_openai_api_base_alias_applies_in_remote_mode_only():
    remote = {"api_mode": "remote"}
    assert load(remote, OPENAI_API_BASE="https://example.test/v1/").base_url == \
        "https://example.test/v1"
    assert load(remote, OPENAI_BASE_URL="https://other.test/v1").api_base == \
        "https://other.test/v1"
    assert load(COLLECTKIT_API_MODE="remote", OPENAI_BASE_URL="https://o.test/v1").api_base == \
        "https://o.test/v1"
    # Local mode: the OpenAI client's variables describe OpenAI, not the local server.
    assert load(OPENAI_BASE_URL="https://other.test/v1").base_url == "http://127.0.0.1:8000/v1"
    assert load(COLLECTKIT_API_BASE="http://10.0.0.5:8000/v1", OPENAI_BASE_URL="https://x.test/v1"
                ).base_url == "http://10.0.0.5:8000/v1"


@pytest.mark.parametrize("name,value", [("temperature", "inf"), ("temperature", "nan"),
                                        ("top_p", "1.5"), ("top_p", "0"),
                                        ("request_timeout", "0"), ("request_timeout", "inf"),
                                        ("max_retries", "-1"), ("repetition_penalty", "0"),
                                        ("retry_backoff_s", "-0.5")])
def test_impossible_numbers_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        load({name: value})


def test_local_mode_never_resolves_the_openai_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.delenv("COLLECTKIT_SERVER_API_KEY", raising=False)
    assert Settings().resolve_api_key() == "EMPTY"
    monkeypatch.setenv("COLLECTKIT_SERVER_API_KEY", "serve-llm-key")  # what serve_llm started
    assert Settings().resolve_api_key() == "serve-llm-key"
    monkeypatch.delenv("COLLECTKIT_SERVER_API_KEY")
    assert Settings(api_mode="remote").resolve_api_key() == SECRET
    monkeypatch.setenv("VLLM_API_KEY", "local-key")
    assert Settings().resolve_api_key() == "local-key"
    monkeypatch.setenv("MY_SERVER_KEY", "named-key")
    monkeypatch.delenv("VLLM_API_KEY")
    assert Settings(api_key_env="MY_SERVER_KEY").resolve_api_key() == "named-key"


# ------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize("variable, raw, setting", [
    ("COLLECTKIT_TEMPERATURE", "warm", "temperature"),
    ("COLLECTKIT_TEMPERATURE", "-0.5", "temperature"),
    ("COLLECTKIT_TEMPERATURE", "none", "temperature"),
    ("COLLECTKIT_MAX_TOKENS", "0", "max_tokens"),
    ("COLLECTKIT_MAX_TOKENS", "1.5", "max_tokens"),
    ("COLLECTKIT_MAX_ATTEMPTS", "0", "max_attempts"),
    ("COLLECTKIT_K_RESPONSES", "four", "k_responses"),
    ("COLLECTKIT_API_MODE", "cloud", "api_mode"),
    ("COLLECTKIT_ENGINE", "tgi", "engine"),
    ("COLLECTKIT_DATASET", "gsm8", "dataset"),
    ("COLLECTKIT_DATASET_SOURCE", "s3", "dataset_source"),
    ("COLLECTKIT_NUM_PROBLEMS", "-3", "num_problems"),
    ("COLLECTKIT_NUM_PROBLEMS", "0", "num_problems"),
    ("COLLECTKIT_GPU_UTIL", "1.5", "gpu_util"),
    ("COLLECTKIT_SERVER_PORT", "70000", "server_port"),
    ("COLLECTKIT_ENFORCE_EAGER", "maybe", "enforce_eager"),
    ("COLLECTKIT_REQUEST_TIMEOUT", "none", "request_timeout"),
    ("VLLM_TENSOR_PARALLEL_SIZE", "0", "tensor_parallel_size"),
])
def test_invalid_values_name_the_setting(variable, raw, setting):
    with pytest.raises(ConfigError, match=rf"\b{setting}\b"):
        load(**{variable: raw})


def test_invalid_override_and_unknown_setting_raise_config_error():
    with pytest.raises(ConfigError, match="batch_size"):
        load({"batch_size": 0})
    with pytest.raises(ConfigError, match="max_tokens"):
        load({"max_tokens": "lots"})
    with pytest.raises(ConfigError, match="no_such_setting"):
        load({"no_such_setting": 3})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------------------------- the API key

def test_public_dict_and_repr_never_show_the_key():
    settings = Settings(api_key=SECRET, api_mode="remote")
    public = settings.public_dict()
    assert "api_key" not in public
    assert SECRET not in json.dumps(public)  # JSON-ready, too
    assert public["api_key_env"] == "OPENAI_API_KEY" and public["stop"] == list(DEFAULT_STOP)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert set(public) == {f.name for f in dataclasses.fields(Settings)} - {"api_key"}


def test_api_key_is_not_read_from_collectkit_variables():
    assert load(COLLECTKIT_API_KEY=SECRET).api_key is None


def test_resolve_api_key_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", SECRET)
    settings = Settings(api_mode="remote", api_key_env="MY_PROVIDER_KEY")
    assert settings.resolve_api_key() == SECRET
    assert "MY_PROVIDER_KEY" in settings.public_dict().values()
    assert SECRET not in json.dumps(settings.public_dict())


def test_resolve_api_key_from_dotenv_and_environment_wins(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("MY_PROVIDER_KEY=from-dotenv\n")
    monkeypatch.chdir(tmp_path)  # resolve_api_key reads ./.env
    monkeypatch.delenv("MY_PROVIDER_KEY", raising=False)
    settings = Settings(api_mode="remote", api_key_env="MY_PROVIDER_KEY")
    assert settings.resolve_api_key() == "from-dotenv"
    monkeypatch.setenv("MY_PROVIDER_KEY", "from-env")
    assert settings.resolve_api_key() == "from-env"


def test_explicit_api_key_wins(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    assert Settings(api_key=SECRET).resolve_api_key() == SECRET


def test_local_mode_without_a_key_falls_back_to_empty(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert Settings(api_key_env="NO_SUCH_KEY_VAR").resolve_api_key() == "EMPTY"


def test_remote_mode_without_a_key_raises_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR"):
        Settings(api_mode="remote", api_key_env="NO_SUCH_KEY_VAR").resolve_api_key()
