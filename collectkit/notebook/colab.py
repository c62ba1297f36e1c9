"""What the Colab notebook needs beyond the pipeline: the model a runtime can serve, results on
Google Drive (so a run resumes in a new VM), HF_TOKEN from Colab's secrets, and the context
length and dtype a GPU needs (`collectkit.colab.context_length`, `.gpu_dtype`, `.engine_for`).

Off Colab each of these does the local thing: the embedded model on a CPU, `drive_folder` as a
plain folder, the environment's own HF_TOKEN. The install cell itself cannot live here (it runs
before the kit is installed).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from collectkit.collect.context_fit import needed_context_length as context_length  # noqa: F401
from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.workflow.servers import engine_for  # noqa: F401  (vLLM flags only for vLLM)
from collectkit.serve.vllm_command import vllm_dtype_for_this_gpu as gpu_dtype  # noqa: F401

GPU_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"  # fits a T4 (15 GB) in half precision with room for KV
DRIVE_MOUNT = "/content/drive"
DRIVE_ROOT = "/content/drive/MyDrive"


def on_colab() -> bool:
    return "google.colab" in sys.modules


def default_model(model: str = "") -> str:
    """`model` if given; else GPU_MODEL where vLLM can serve it (a CUDA GPU and vLLM), else the
    embedded model on llama.cpp (a CPU runtime, or a machine without vLLM)."""
    if model:
        return model
    from collectkit.workflow.servers import this_machine

    machine = this_machine()
    return GPU_MODEL if machine.cuda_gpu and machine.vllm_installed else EMBEDDED_MODEL


def results_folder(run_dir: str, drive_folder: str = "") -> str:
    """Where the run's files go: `run_dir`, or `run_dir` inside `drive_folder` — on Colab a folder
    of your Google Drive (mounted at /content/drive; Colab asks for access once), elsewhere any
    folder. A relative run_dir is placed inside it, an absolute one is kept."""
    if not drive_folder:
        return run_dir
    base = Path(drive_folder)
    if on_colab():
        from google.colab import drive  # only importable on Colab

        if not Path(DRIVE_ROOT).is_dir():
            drive.mount(DRIVE_MOUNT)
        base = Path(DRIVE_ROOT) / drive_folder
    folder = base / run_dir
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def use_hf_token(secret: str = "HF_TOKEN") -> str:
    """Put the Hugging Face token in the environment for gated models (vLLM and datasets read
    HF_TOKEN): kept if already set, else on Colab taken from its secrets (the key icon) when
    this notebook was given access. Returns a line saying which, never the token."""
    if os.environ.get(secret):
        return f"{secret}: from the environment"
    if not on_colab():
        return f"{secret}: not set (needed only for gated models)"
    from google.colab import userdata  # only importable on Colab

    try:
        token = userdata.get(secret)
    except Exception as exc:  # SecretNotFoundError, NotebookAccessError, TimeoutException
        return f"{secret}: not taken from Colab's secrets ({type(exc).__name__}); gated models " \
               "need it (key icon → add HF_TOKEN, allow this notebook)"
    os.environ[secret] = token
    return f"{secret}: from Colab's secrets"
