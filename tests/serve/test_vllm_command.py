"""Pure parts of vLLM's command line (collectkit.serve.vllm_command): no process is started."""
from __future__ import annotations

import sys

import pytest

from collectkit.serve.vllm_command import (InvalidServerOption, VllmOptions, dtype_for_gpu,
                                     vllm_command)

@pytest.mark.parametrize("model, capability, dtype", [
    ("Qwen/Qwen2.5-1.5B-Instruct", 7.5, "half"),        # T4: no bfloat16
    ("google/gemma-3-1b-it", 7.5, "float32"),           # Gemma 3 refuses float16
    ("google/gemma-2-2b-it", 7.0, "float32"),
    ("google/gemma-3-1b-it", 8.9, "auto"),              # L4 and newer keep vLLM's choice
    ("Qwen/Qwen2.5-1.5B-Instruct", 8.0, "auto"),
    ("Qwen/Qwen2.5-1.5B-Instruct", None, "auto"),       # no GPU found
])
def test_dtype_for_the_gpu_found(model, capability, dtype):
    assert dtype_for_gpu(model, capability) == dtype



def test_module_launcher_puts_the_model_behind_model_flag():
    launcher = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    command = vllm_command("org/m", "127.0.0.1", 8123, VllmOptions(seed=1), launcher=launcher)
    assert command[:5] == [*launcher, "--model", "org/m"]
    assert command[command.index("--seed") + 1] == "1"
    serve = vllm_command("org/m", "127.0.0.1", 8123, launcher=["/x/vllm", "serve"])
    assert serve[:3] == ["/x/vllm", "serve", "org/m"] and "--model" not in serve


def test_gemma3_limit_is_not_doubled_when_passed_through():
    options = VllmOptions(server_args=("--limit-mm-per-prompt={\"image\": 1}",))
    flags = options.flags("google/gemma-3-4b-it")
    assert sum(f.startswith("--limit-mm-per-prompt") for f in flags) == 1


@pytest.mark.parametrize("options", [dict(tensor_parallel_size=0), dict(max_num_seqs=-1),
                                     dict(gpu_util=1.5), dict(dtype="fp7"),
                                     dict(server_args=["--api-key", "k"])])
def test_invalid_options_name_themselves(options):
    with pytest.raises(InvalidServerOption, match=next(iter(options)).split("_")[0]
                       if "server_args" not in options else "--api-key"):
        VllmOptions(**options)


def test_llamacpp_ignores_the_gpu_settings_but_not_vllm_only_flags():
    assert VllmOptions(gpu_util=0.5, tensor_parallel_size=2, enforce_eager=False,
                       max_model_len=512, served_model_name="x").vllm_only() == []
    assert VllmOptions(dtype="half", server_args=["--x"]).vllm_only() == ["dtype", "server_args"]
