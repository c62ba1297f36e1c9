"""Every command in the README's shell blocks is executed by a test.

`COVERED` names, for each command, the test that runs it. The cheap ones run here exactly as
written (a bash line, with `collectkit` on PATH) against the stub server over a real socket:
the environment points the local server port at the stub and keeps runs small
(COLLECTKIT_NUM_PROBLEMS applies only where the command gives no --num-problems). The others
(engines, GPUs, make targets) name the test that runs the same thing; each named test must exist.
A README command missing from COVERED, or an entry no longer in the README, fails here.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests/cli/test_readme_commands.py::test_readme_commands_run_as_written"
COVERED = {
    "make demo": "tests/notebook/test_notebooks.py::test_demo_runs_the_four_notebooks_and_resumes",
    "make lab": "tests/cli/test_readme_commands.py::test_make_lab_serves_the_repository_root",
    "make test": "tests/cli/test_readme_commands.py::test_make_test_fast_leaves_out_engines_and_notebooks",
    "make test-fast":
        "tests/cli/test_readme_commands.py::test_the_fast_lane_leaves_out_engines_notebooks_and_slow_suites",
    "make test-browser": "tests/browser/test_jupyterlab.py",
    "make test-vllm": "tests/vllm/test_real_vllm.py",
    'pip install "collectkit @ git+https://github.com/collectkit/collectkit"':
        "tests/test_wheel.py::test_installed_commands_work_from_another_folder",
    "collectkit serve --install-model":
        "tests/test_wheel.py::test_the_embedded_model_is_one_documented_command_away",
    "collectkit serve": "tests/serve/test_serve.py::test_cli_start_status_second_start_stop",
    "collectkit serve --model google/gemma-3-4b-it --max-model-len 8192":
        "tests/serve/test_serve_vllm.py::test_vllm_gemma3_gets_the_multimodal_limit",
    "collectkit serve --model /path/to/model.gguf --port 8001":
        "tests/serve/test_serve.py::test_missing_gguf_path_fails_clearly",
    "collectkit serve --status": "tests/serve/test_serve.py::test_cli_start_status_second_start_stop",
    "collectkit serve --stop --port 8000":
        "tests/serve/test_serve.py::test_cli_start_status_second_start_stop",
    "OMP_NUM_THREADS=2 VLLM_CPU_OMP_THREADS_BIND=0-1 VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/"
    "collectkit serve --engine vllm --model .cache/smollm2-135m-instruct-hf --served-model-name "
    "smollm2-135m-hf": "tests/vllm/test_real_vllm.py",
    "collectkit run --num-problems 20 --k-responses 4": HERE,
    "collectkit run --dataset my_problems.jsonl --k-responses 4": HERE,
    "collectkit run --dataset math500,my_problems.jsonl --num-problems 40": HERE,
    "collectkit run --dataset hf:openai/gsm8k:main@cc7b047b6e5bb11b4f1af84efc572db110a51b3c "
    "--dataset-fields question=question,answer_correct=answer":
        "tests/tasks/test_own_data.py::test_hub_spec_maps_its_columns",
    "collectkit run --list-datasets": HERE,
    "collectkit run --api-mode remote --model gpt-4o-mini --num-problems all": HERE,
    "collectkit run --dataset math500 --protocol r1": HERE,
    "collectkit plan --target-halfwidth 0.03 --accuracy 0.6 --dataset math500,mmlu_pro "
    "--k-responses 4": HERE,
    "collectkit run --dataset mmlu_pro --k-responses 4 --target-halfwidth 0.05": HERE,
    "collectkit run --dataset mmlu_pro --k-responses 4 --target-halfwidth 0.03 --dry-run": HERE,
    "collectkit run --protocol mmlu_pro_zero_shot,qwen_boxed": HERE,
    "collectkit extract -i results/ --by-category --by-level": HERE,
    "collectkit extract -i results/model_MATH_500_MMLU_Pro.jsonl --match last": HERE,
    "collectkit compare results/modelA_MATH_500_MMLU_Pro.jsonl "
    "results/modelB_MATH_500_MMLU_Pro.jsonl --out compare/": HERE,
    'collectkit compare results/ --labels "T=0.2,T=1.0"': HERE,
    "collectkit explore results/model_MATH_500_MMLU_Pro.processed.jsonl --html explorer.html": HERE,
    'collectkit explore runA.processed.jsonl runB.processed.jsonl --labels "T=0.2,T=1.0" '
    "--html flips.html --filter flipped --max-problems 500": HERE,
    "collectkit export results/m_MATH_500_MMLU_Pro.processed.jsonl --format all --out export/":
        HERE,
    "collectkit export a.processed.jsonl b.processed.jsonl --format pairs --out pairs/ "
    "--push-to-hub me/pairs":
        "tests/training_data/test_export.py::test_push_to_hub_without_network_is_one_line_and_keeps_the_export",
}
# "Splitting a run across machines": the job script and the commands after it, run in order as
# an array runs them (the stub server as vLLM, sbatch and scontrol played by the test).
SLURM = "tests/cli/test_readme_slurm.py::test_the_readme_slurm_array_runs_then_merges"
COVERED.update(dict.fromkeys([
    "MODEL=Qwen/Qwen3-8B",
    "vllm serve $MODEL --data-parallel-size 8 --port 8000 --reasoning-parser qwen3 &",
    "SERVER=$!",
    "until curl -sf http://localhost:8000/v1/models >/dev/null; do sleep 10; done",
    "collectkit run --model $MODEL --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT "
    "--api-base http://localhost:8000/v1 --dataset math500 --k-responses 64 --max-tokens 32768 "
    "--max-concurrent 512 --output-dir /shared/results",
    "kill $SERVER",
    "sbatch collect.sh",
    "scontrol requeue 1234_2",
    "collectkit merge /shared/results/Qwen_Qwen3-8B_MATH_500_shard-*-of-4.jsonl",
], SLURM))


def readme_commands(text: str) -> list[str]:
    """The command lines of the README's bash blocks: continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = " ".join(re.sub(r"(^|\s)#.*$", "", line).split())
            if command:
                commands.append(command)
    return commands


def test_every_readme_command_is_covered_by_a_test():
    commands = set(readme_commands((ROOT / "README.md").read_text(encoding="utf-8")))
    assert sorted(commands - set(COVERED)) == [], "README commands no test runs"
    assert sorted(set(COVERED) - commands) == [], "listed commands the README no longer has"


@pytest.mark.parametrize("node", sorted(set(COVERED.values())))
def test_each_covering_test_exists(node):
    path, _, name = node.partition("::")
    assert (ROOT / path).is_file(), path
    if name:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, node


def make_dry_run(*targets: str) -> str:
    """What `make TARGET…` would run (setup taken as done), even when pytest runs under make."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.installed-stamp",
                           *targets], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=30).stdout


def test_make_lab_serves_the_repository_root():
    shown = make_dry_run("lab")
    assert "--ServerApp.root_dir=. " in shown and "default_url=/lab/tree/notebooks" in shown
    assert (ROOT / "colab" / "collectkit_colab.ipynb").is_file()  # under that root


def test_make_test_fast_leaves_out_engines_and_notebooks():
    shown = make_dry_run("test-fast", "test")
    fast, *full = shown.strip().splitlines()
    assert fast.endswith('-m pytest -q -n 2 -m "not engine and not notebook and not slow"')
    # make test: every test, in two passes whose marker expressions split the suite in two,
    # the engine and notebook tests without xdist (one engine at a time)
    assert [line.split("-m pytest -q", 1)[1] for line in full] == [
        ' -n 4 --dist loadfile -m "not engine and not notebook"', ' -m "engine or notebook"']


@pytest.mark.slow
def test_the_fast_lane_leaves_out_engines_notebooks_and_slow_suites():
    fast = make_dry_run("test-fast").strip()
    expression = fast.split('-m "')[1].rstrip('"')
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m",
         expression, "tests/serve/test_serve.py", "tests/collect/test_collection.py", "tests/notebook/test_notebooks.py",
         "tests/cli/test_cli.py"], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    chosen = [line for line in collected.splitlines() if "::" in line]
    assert any(line.startswith("tests/cli/test_cli.py::") for line in chosen)
    assert not [line for line in chosen if line.startswith(("tests/serve/test_serve.py::",
                                                            "tests/collect/test_collection.py::"))]
    left_out = ("test_demo_runs", "test_colab_notebook_runs_on_cpu", "test_start_button_starts")
    assert not [line for line in chosen if any(name in line for name in left_out)]
    assert any("test_committed_notebooks_are_stripped" in line for line in chosen)


def shell(command: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "collectkit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m collectkit "$@"\n')
    (bin_dir / "collectkit").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")  # its own my_problems.jsonl
    own = re.search(r"```json\n(\{\"unique_id\": \"q1\".*?)```", readme, re.DOTALL)[1]
    (work / "my_problems.jsonl").write_text(own, encoding="utf-8")
    with StubServer(completion_tokens=8, model="smollm2-135m-instruct") as stub:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("COLLECTKIT_")},
               "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
               "COLLECTKIT_STATE_DIR": str(tmp_path / "state"),
               "COLLECTKIT_SERVER_PORT": str(stub.port), "COLLECTKIT_NUM_PROBLEMS": "3",
               "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-readme-test"}
        ran = {}
        for command in [c for c, node in COVERED.items() if node == HERE]:
            folder = work
            if command.startswith("collectkit run --protocol"):  # other protocols: other folders
                folder = tmp_path / "protocols"
                folder.mkdir()
            elif command.startswith("collectkit run --api-mode remote"):
                folder = tmp_path / "remote"
                folder.mkdir()
                stub.set_mode({"kind": "401"})  # refused at once, nothing counted: exit 2
            elif command.startswith("collectkit extract -i results/model_"):
                source = max((work / "results").glob("smollm2*MATH_500_MMLU_Pro.jsonl"))
                shutil.copy(source, work / "results" / "model_MATH_500_MMLU_Pro.jsonl")
            elif command.startswith("collectkit compare results/modelA"):
                for name in ("modelA", "modelB"):
                    shutil.copy(work / "results" / "model_MATH_500_MMLU_Pro.jsonl",
                                work / "results" / f"{name}_MATH_500_MMLU_Pro.jsonl")
            elif command.startswith("collectkit compare results/ --labels"):
                folder = tmp_path / "two-runs"  # a folder of exactly two runs
                (folder / "results").mkdir(parents=True)
                for name in ("modelA", "modelB"):
                    shutil.copy(work / "results" / f"{name}_MATH_500_MMLU_Pro.jsonl",
                                folder / "results")
            elif command.startswith("collectkit export results/m_"):
                shutil.copy(work / "results" / "model_MATH_500_MMLU_Pro.processed.jsonl",
                            work / "results" / "m_MATH_500_MMLU_Pro.processed.jsonl")
            elif command.startswith("collectkit explore runA"):
                for name in ("runA", "runB"):  # two graded runs of the same problems
                    shutil.copy(work / "results" / "model_MATH_500_MMLU_Pro.processed.jsonl",
                                work / f"{name}.processed.jsonl")
            ran[command] = shell(command, folder, env)
            stub.set_mode("ok")
    codes = {command: (done.returncode, done.stderr[-500:]) for command, done in ran.items()}
    remote = next(c for c in ran if "--api-mode remote" in c)
    assert codes.pop(remote)[0] == 2 and "401" in ran[remote].stderr + ran[remote].stdout
    assert all(code == 0 for code, _ in codes.values()), codes
    results = tmp_path / "work" / "results"
    twenty = [json.loads(line) for line in
              (results / "smollm2-135m-instruct_MATH_500_MMLU_Pro.jsonl").read_text().splitlines()]
    assert len(twenty) == 20 and all(len(row["responses"]) == 4 for row in twenty)
    assert (results / "smollm2-135m-instruct_MATH_500.jsonl").is_file()  # the r1 run, 3 problems
    assert list((tmp_path / "protocols" / "results").glob("*.jsonl"))
    assert list(results.glob("*.processed.jsonl")) and list(results.glob("*.summary.json"))
    assert (tmp_path / "work" / "compare" / "responses.csv").is_file()
    assert "T=0.2" in ran['collectkit compare results/ --labels "T=0.2,T=1.0"'].stdout
    assert (results / "smollm2-135m-instruct_my_problems.jsonl").is_file()
    assert "gsm8k" in ran["collectkit run --list-datasets"].stdout
    assert "plan for ±0.03" in ran[next(c for c in ran if c.startswith("collectkit plan"))].stdout
    assert "95% betting confidence sequence" in ran[
        "collectkit run --dataset mmlu_pro --k-responses 4 --target-halfwidth 0.05"].stdout
    assert "plan for ±0.03" in ran[next(c for c in ran if c.endswith("--dry-run"))].stdout
    assert list((tmp_path / "work" / "export").iterdir())  # the training data written
    for page in ("explorer.html", "flips.html"):
        assert (tmp_path / "work" / page).read_text(encoding="utf-8").startswith("<!DOCTYPE html")
