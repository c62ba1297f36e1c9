"""The notebooks: committed stripped (tools/strip_notebooks.py) and parameterized, thin (no
definitions); executed with papermill against the real embedded engine (through the demo, which runs
notebooks 01-04, and the Colab notebook with CPU parameters), asserting on what they produced.

Tiny parameters keep the engine work small (4 problems, k=2, 32 tokens). Every server a notebook
starts is recorded in this test's COLLECTKIT_STATE_DIR and stopped by PID at the end, also when a
notebook fails.
"""
from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from collectkit.store import links
from collectkit.workflow import files as ns
from collectkit.notebook.chooser import ModelChooser
from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.serve.server import recorded_servers, start_server

try:
    from conftest import free_port, pid_gone
except ImportError:  # tests/ imported as a package
    from tests.conftest import free_port, pid_gone

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ["notebooks/01_serve_llm.ipynb", "notebooks/02_run_inference.ipynb",
            "notebooks/03_extract_answers.ipynb", "notebooks/04_analyze.ipynb"]
COLAB = "colab/collectkit_colab.ipynb"
sys.path.insert(0, str(ROOT / "tools"))
import strip_notebooks  # noqa: E402

# every notebook the repository ships, new ones included
ALL_NOTEBOOKS = [str(path.relative_to(ROOT)) for path in strip_notebooks.repository_notebooks()]
FIGURES = ["accuracy_by_category.png", "accuracy_by_level.png", "pass_maj_at_k.png",
           "unparsed_by_category.png", "tokens_throughput.png"]
TINY = {"num_problems": 4, "k": 2, "max_tokens": 32}


def read(relative: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / relative, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid_gone(pid)


@pytest.fixture
def stop_recorded():
    """Stops, by PID, every server recorded in this test's state dir when the test ends."""
    yield
    for handle in recorded_servers():
        handle.stop()


def execute(relative: str, output: Path, **parameters):
    import papermill

    return papermill.execute_notebook(str(ROOT / relative), str(output), parameters=parameters,
                                      kernel_name="python3", progress_bar=False,
                                      cwd=str(output.parent))


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in code_cells(nb):
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------ static checks

@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_committed_without_outputs(relative):
    nb = read(relative)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [], f"{relative}: a cell has outputs"
        assert cell.execution_count is None, f"{relative}: a cell has an execution count"
    assert "papermill" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_first_code_cell_is_documented_literal_parameters(relative):
    import papermill

    first = code_cells(read(relative))[0]
    assert "parameters" in first.metadata.get("tags", [])
    for statement in ast.parse(first.source).body:
        assert isinstance(statement, (ast.Assign, ast.AnnAssign)), ast.dump(statement)
        ast.literal_eval(statement.value)  # only literals
    for line in first.source.splitlines():
        assert not line.strip() or "  # " in line, f"{relative}: no # help comment: {line}"
    inferred = papermill.inspect_notebook(str(ROOT / relative))
    assert inferred and all(p["help"] and p["inferred_type_name"] != "None"
                            for p in inferred.values())


@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_no_definitions_in_notebooks(relative):
    for cell in code_cells(read(relative)):
        assert "def " not in cell.source and "class " not in cell.source, cell.source


@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_committed_notebooks_are_stripped(relative):
    text = (ROOT / relative).read_text(encoding="utf-8")
    assert strip_notebooks.stripped(text) == text, (
        f"{relative} is not stripped; run make strip-notebooks")


def test_strip_undoes_a_jupyter_session(tmp_path):
    """What JupyterLab and papermill add to a notebook (outputs, counts, widget state, timings,
    the kernel's version) goes; what the author wrote (sources, ids, tags) stays."""
    committed = (ROOT / PIPELINE[0]).read_text(encoding="utf-8")
    nb = nbformat.reads(committed, as_version=4)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7",
                                    "codemirror_mode": {"name": "ipython", "version": 3}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["papermill"] = {"parameters": {"port": 1}}
    for count, cell in enumerate(code_cells(nb), start=1):
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
        cell.metadata["scrolled"] = True
    copy = tmp_path / "01.ipynb"
    nbformat.write(nb, copy)
    assert strip_notebooks.main(["--check", str(copy)]) == 1
    assert strip_notebooks.main([str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == committed
    assert strip_notebooks.main(["--check", str(copy)]) == 0
    edited = nbformat.read(copy, as_version=4)  # an edit survives stripping
    edited.cells.append(nbformat.v4.new_markdown_cell("a note", id="note"))
    nbformat.write(edited, copy)
    strip_notebooks.main([str(copy)])
    assert nbformat.read(copy, as_version=4).cells[-1].source == "a note"


def test_colab_install_cell_acts_only_on_colab_and_uses_links():
    nb = read(COLAB)
    parameters = code_cells(nb)[0].source
    assert f'repo_url: str = "{links.REPO_URL}"' in parameters
    install = next(cell.source for cell in code_cells(nb) if "subprocess" in cell.source)
    assert '"google.colab" in sys.modules' in install
    assert "if in_colab:" in install and "collectkit{extra} @ git+{repo_url}" in install
    assert '"serve", "--install-model"' in install  # the embedded model for a CPU runtime
    assert links.pip_spec() == f"collectkit @ git+{links.REPO_URL}"
    assert links.COLAB_URL.endswith("/blob/main/colab/collectkit_colab.ipynb")
    assert links.COLAB_URL in nb.cells[0].source
    assert nb.metadata["accelerator"] == "GPU"


def test_pipeline_notebooks_share_their_defaults():
    def defaults(relative):
        namespace: dict = {}
        exec(code_cells(read(relative))[0].source, namespace)
        return namespace

    serve, collect, extract, analyze = (defaults(relative) for relative in PIPELINE)
    assert serve["port"] == collect["port"]
    assert serve["run_dir"] == collect["run_dir"] == extract["run_dir"] == analyze["run_dir"]
    assert serve["model"] == EMBEDDED_MODEL


# ------------------------------------------------------------------------------ event loops

def test_no_event_loop_patching_anywhere():
    sources = [p for p in (ROOT / "collectkit").rglob("*.py")] + [
        ROOT / relative for relative in ALL_NOTEBOOKS] + [ROOT / "requirements.txt"]
    for path in sources:
        text = path.read_text(encoding="utf-8").lower()
        assert "nest_asyncio" not in text and "nest-asyncio" not in text, path


def test_notebooks_await_collection_in_the_kernels_loop():
    for relative in ("notebooks/02_run_inference.ipynb", COLAB):
        sources = "\n".join(cell.source for cell in code_cells(read(relative)))
        assert "await collectkit.collect(" in sources and "run_collection" not in sources, relative


# What a notebook may import from the kit: the public API, and the chooser widget for notebook 01.
KIT_IMPORTS = {"collectkit", "collectkit.colab", "collectkit.notebook.chooser"}


@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_notebooks_import_only_the_public_api(relative):
    imported = set()
    for cell in code_cells(read(relative)):
        source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported |= {f"{node.module}.{alias.name}" if node.module == "collectkit"
                             else node.module for alias in node.names}
    kit = {name for name in imported if name.split(".")[0] == "collectkit"}
    assert "collectkit" in kit and kit <= KIT_IMPORTS, (relative, kit - KIT_IMPORTS)


@pytest.mark.parametrize("relative", ALL_NOTEBOOKS)
def test_each_step_has_a_markdown_cell_before_it(relative):
    cells = read(relative).cells
    for before, cell in zip(cells, cells[1:]):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            assert before.cell_type == "markdown" or before.cell_type == "code" and \
                "fig" in before.source.splitlines()[-1:], (relative, cell.source[:80])


def test_sync_helper_works_inside_a_running_loop(tmp_path):
    """A script that calls run_collection from a coroutine (as a notebook cell would) gets its
    results; the collection runs on its own loop in a worker thread, the caller's loop is untouched."""
    import asyncio
    import threading

    from stub_server import StubServer

    from collectkit.collect.settings import Settings
    from collectkit.collect.run import run_collection
    from collectkit.tasks.load import load_problems

    async def from_a_cell(settings, output):
        caller = threading.current_thread()
        stats = run_collection(settings, load_problems("both", 4), output_path=output,
                               progress=False)
        assert threading.current_thread() is caller
        return stats, asyncio.get_running_loop().is_running()

    with StubServer(completion_tokens=8) as stub:
        settings = Settings(model=stub.model, api_base=stub.base_url, output_dir=str(tmp_path),
                            k_responses=2, max_tokens=16, max_retries=0, request_timeout=5.0,
                            api_key="sk-test")
        stats, loop_alive = asyncio.run(from_a_cell(settings, tmp_path / "r.jsonl"))
    assert stats.done == 4 and loop_alive
    assert len(read_jsonl(tmp_path / "r.jsonl")) == 4


# ------------------------------------------------------------------------------ helpers (no engine)

def test_model_chooser_offers_common_models_and_free_text():
    chooser = ModelChooser()
    assert chooser.model == EMBEDDED_MODEL and chooser.engine == "auto"
    assert {"google/gemma-3-4b-it", "Qwen/Qwen2.5-7B-Instruct",
            "meta-llama/Llama-3.1-8B-Instruct"} <= set(chooser.model_box.options)
    chooser.model_box.value = "/models/my-model.Q4_K_M.gguf"  # free text
    assert chooser.model == "/models/my-model.Q4_K_M.gguf"
    assert "Start runs it with llama.cpp on the CPU" in chooser.note.value
    chooser.model_box.value = "Qwen/Qwen2.5-7B-Instruct"
    chooser.engine_box.value = "vllm"
    assert (chooser.model, chooser.engine) == ("Qwen/Qwen2.5-7B-Instruct", "vllm")
    assert "vLLM" in chooser.note.value
    assert ns.served_model_id("/models/my-model.Q4_K_M.gguf") == "my-model.Q4_K_M"


def test_engine_notes_say_what_this_machine_can_run():
    cpu_only = ns.Machine(cuda_gpu=False, vllm_installed=False, llamacpp_installed=True, cpus=2)
    assert "no CUDA GPU" in cpu_only.summary() and "vLLM models" not in cpu_only.summary()
    assert "remote API" in cpu_only.summary()
    assert cpu_only.can_run("llamacpp") is None
    assert "not installed" in cpu_only.can_run("vllm")
    cpu_vllm = ns.Machine(cuda_gpu=False, vllm_installed=True, llamacpp_installed=True, cpus=2)
    assert "CUDA GPU" in cpu_vllm.can_run("vllm", "auto")
    assert cpu_vllm.can_run("vllm", "vllm") is None  # a CPU build of vLLM, chosen explicitly
    gpu = ns.Machine(cuda_gpu=True, vllm_installed=True, llamacpp_installed=True, cpus=16)
    assert gpu.summary().startswith("This machine (16 CPU cores, a CUDA GPU and vLLM) can run "
                                    "vLLM models on the GPU")
    here = ns.this_machine()  # the note shows this machine's facts, never a GPU it lacks
    chooser = ModelChooser(model="Qwen/Qwen2.5-7B-Instruct")
    assert here.summary().replace('"', "&quot;") in chooser.note.value
    if not here.cuda_gpu:
        assert "cannot start here" in chooser.note.value
        assert "vLLM models on the GPU" not in chooser.note.value


def test_start_button_shows_an_error_as_one_line(tmp_path):
    chooser = ModelChooser(str(tmp_path / "missing.gguf"), port=free_port(), log_dir=tmp_path)
    assert "no server yet" in chooser.status.value
    chooser.start_button.click()
    assert chooser.server is None and not chooser.start_button.disabled
    assert f"error: no such file: {tmp_path / 'missing.gguf'}" in chooser.status.value
    assert "\n" not in chooser.status.value and "Traceback" not in chooser.status.value
    with pytest.raises(ns.ServeError, match="no such file"):
        chooser.ensure_server()  # the next cell raises it in full
    assert not recorded_servers()


@pytest.mark.engine
def test_start_button_starts_then_reuses_the_server(tmp_path, stop_recorded):
    port = free_port()
    settings = dict(port=port, n_parallel=2, max_model_len=1024, log_dir=str(tmp_path / "rel"))
    chooser = ModelChooser(**settings)
    chooser.start_button.click()
    assert chooser.server is not None, chooser.status.value
    assert f"started a llamacpp server: PID {chooser.server.pid}" in chooser.status.value
    assert Path(chooser.server.log_path).is_absolute()
    again = ModelChooser(**settings)  # a rerun of the chooser cell: it says what is running
    assert f"running: llamacpp server PID {chooser.server.pid}" in again.status.value
    again.start_button.click()
    assert f"reused the running llamacpp server: PID {chooser.server.pid}" in again.status.value
    assert [h.pid for h in recorded_servers()] == [chooser.server.pid]


def test_run_folder_lookups(tmp_path):
    with pytest.raises(FileNotFoundError):
        ns.find_results_file(tmp_path)
    results = tmp_path / "m_MATH_500.jsonl"
    results.write_text("")
    for name in ("m_MATH_500.errors.jsonl", "m_MATH_500.processed.jsonl"):
        (tmp_path / name).write_text("")
    assert ns.find_results_file(tmp_path) == results
    assert ns.find_processed_file(tmp_path) == tmp_path / "m_MATH_500.processed.jsonl"
    assert ns.processed_paths(results) == (tmp_path / "m_MATH_500.processed.jsonl",
                                           tmp_path / "m_MATH_500.summary.json")
    (tmp_path / "m_MATH_500.manifest.json").write_text('{"status": "finished"}')
    assert ns.load_manifest(tmp_path / "m_MATH_500.processed.jsonl") == {"status": "finished"}


# ------------------------------------------------------------------------------ executed

@pytest.mark.engine
@pytest.mark.notebook
def test_demo_runs_the_four_notebooks_and_resumes(tmp_path, stop_recorded, capsys):
    import demo

    run_dir = tmp_path / "demo"
    argv = ["--run-dir", str(run_dir), "--num-problems", str(TINY["num_problems"]),
            "--k", str(TINY["k"]), "--max-tokens", str(TINY["max_tokens"])]
    result = demo.run_demo(demo.build_parser().parse_args(argv))
    demo.report(result)

    # the server 01 started was recorded, then stopped by PID
    assert result.server_started and result.server_pid
    assert wait_gone(result.server_pid)
    assert not recorded_servers()

    executed = {path.name for path in result.executed_dir.glob("*.ipynb")}
    assert executed == {Path(relative).name for relative in PIPELINE} | {
        "05_compare.ipynb", "02_run_inference_T1.0.ipynb"}
    compared = pd.read_parquet(run_dir / "compare" / "responses.parquet")
    assert set(compared["run"]) == {"T=0.7", "T=1.0"}
    # k=2 against k=1: compared (and exported) on the common k, and 05 says so
    assert len(compared) == TINY["num_problems"] * 2 * (TINY["k"] // 2)
    assert "note: the runs have different k (T=0.7: 2, T=1.0: 1)" in outputs_text(
        nbformat.read(result.executed_dir / "05_compare.ipynb", as_version=4))
    assert result.executed_dir.parent == run_dir / "notebooks"
    served = outputs_text(nbformat.read(result.executed_dir / PIPELINE[0].split("/")[1],
                                        as_version=4))
    assert "the demo stops it afterwards" in served and "left running" not in served
    results = result.results_file
    rows = read_jsonl(results)
    assert len(rows) == TINY["num_problems"]
    assert {row["dataset"] for row in rows} == {"math500", "mmlu_pro"}
    assert all(len(row["responses"]) == TINY["k"] and row["status"] == "ok" for row in rows)

    processed, summary_path = ns.processed_paths(results)
    graded = read_jsonl(processed)
    assert [row["unique_id"] for row in graded] == [row["unique_id"] for row in rows]
    responses = [resp for row in graded for resp in row["responses"]]
    assert all("extracted_answer" in resp and isinstance(resp["is_correct"], bool)
               for resp in responses)
    summary = json.loads(summary_path.read_text())
    overall = summary["overall"]
    assert overall["n_problems"] == TINY["num_problems"]
    assert overall["n_responses"] == TINY["num_problems"] * TINY["k"]
    assert "accuracy" not in overall  # MATH-500 and MMLU-Pro are never pooled
    for dataset, figures in summary["by_dataset"].items():  # mean over problems of their share
        scores = [sum(r["is_correct"] for r in row["responses"]) / len(row["responses"])
                  for row in graded if row["dataset"] == dataset]
        assert figures["accuracy"] == pytest.approx(sum(scores) / len(scores))
    unparsed = sum(resp["extracted_answer"] is None for resp in responses) / len(responses)
    assert overall["unparsed_rate"] == pytest.approx(unparsed)
    assert set(summary["by_dataset"]) == {"math500", "mmlu_pro"}
    assert sum(d["n_problems"] for d in summary["by_dataset"].values()) == TINY["num_problems"]

    for name in FIGURES:
        png = run_dir / "figures" / name
        assert png.is_file() and png.stat().st_size > 1000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = ns.load_manifest(results)
    assert manifest["status"] == "finished" and manifest["totals"]["done"] == TINY["num_problems"]
    analyzed = nbformat.read(result.executed_dir / "04_analyze.ipynb", as_version=4)
    assert any("image/png" in output.get("data", {})
               for cell in code_cells(analyzed) for output in cell.outputs)
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "figures/accuracy_by_category.png" in printed

    # a second run in the same folder resumes: nothing collected twice, the rest redone
    first_pid = result.server_pid
    again = demo.run_demo(demo.build_parser().parse_args(argv))
    assert len(read_jsonl(results)) == TINY["num_problems"]
    collected = "02_run_inference.ipynb"
    assert "4 already done" in outputs_text(
        nbformat.read(again.executed_dir / collected, as_version=4))
    assert again.executed_dir != result.executed_dir  # the first run's executed 02 is kept
    assert "4/4 problems done" in outputs_text(
        nbformat.read(result.executed_dir / collected, as_version=4))
    assert again.server_pid != first_pid and wait_gone(again.server_pid)
    assert not recorded_servers()

    # other sampling settings in the same folder: a clear error before anything starts
    with pytest.raises(demo.DemoError, match="--fresh"):
        demo.run_demo(demo.build_parser().parse_args(argv[:-1] + ["48"]))
    assert not recorded_servers()


@pytest.mark.engine
@pytest.mark.notebook
def test_serve_notebook_reuses_a_recorded_server(tmp_path, stop_recorded):
    port = free_port()
    handle = start_server(engine="llamacpp", port=port, n_parallel=2, max_model_len=1024,
                          log_dir=tmp_path)
    nb = execute(PIPELINE[0], tmp_path / "01.ipynb", interactive=False, port=port,
                 run_dir=str(tmp_path))
    text = outputs_text(nb)
    assert f"reused the running llamacpp server: PID {handle.pid}" in text
    assert EMBEDDED_MODEL in text
    assert [h.pid for h in recorded_servers()] == [handle.pid]  # left running, still recorded
    # keep_running False stops it (by its PID)
    execute(PIPELINE[0], tmp_path / "01-stop.ipynb", interactive=False, port=port,
            run_dir=str(tmp_path), keep_running=False)
    assert wait_gone(handle.pid)
    assert not recorded_servers()


@pytest.mark.engine
@pytest.mark.notebook
def test_colab_notebook_runs_on_cpu(tmp_path, stop_recorded):
    """On a CPU its defaults serve the embedded model, so the server notebook 01 left on the
    port is reused, not a port conflict."""
    run_dir = tmp_path / "colab-run"
    port = free_port()
    left_by_01 = start_server(engine="llamacpp", port=port, n_parallel=4, max_model_len=4096,
                              log_dir=tmp_path)
    nb = execute(COLAB, tmp_path / "colab.ipynb",  # its defaults on a CPU: the embedded model
                 port=port, num_problems=str(TINY["num_problems"]),
                 k_responses=TINY["k"], max_tokens=TINY["max_tokens"], max_concurrent=8,
                 run_dir=str(run_dir), keep_running=False)
    text = outputs_text(nb)
    assert "not on Colab: nothing installed" in text
    assert f"model: {EMBEDDED_MODEL}" in text and "context length: " in text
    assert f"reused the running llamacpp server: PID {left_by_01.pid}" in text
    assert "stopped PID" in text
    assert not recorded_servers()
    results = ns.find_results_file(run_dir)
    assert len(read_jsonl(results)) == TINY["num_problems"]
    processed, summary_path = ns.processed_paths(results)
    assert len(read_jsonl(processed)) == TINY["num_problems"]
    summary = json.loads(summary_path.read_text())
    assert summary["overall"]["n_responses"] == TINY["num_problems"] * TINY["k"]
    for name in FIGURES:
        png = run_dir / "figures" / name
        assert png.is_file() and png.stat().st_size > 1000, name


def test_demo_fresh_removes_only_its_own_files(tmp_path):
    import demo

    own = [tmp_path / "m_MATH_500.jsonl", tmp_path / "m_MATH_500.manifest.json",
           tmp_path / "m_MATH_500.summary.json", tmp_path / "figures" / "a.png",
           tmp_path / "notebooks" / "20260101-000000" / "01_serve_llm.ipynb",
           tmp_path / "server-8000.log"]
    other = [tmp_path / "notes.txt", tmp_path / "figures" / "keep.pdf", tmp_path / "data.csv"]
    for path in own + other:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sorted(demo.fresh_start(tmp_path)) == sorted(own)
    assert all(path.exists() for path in other)


def test_demo_refusal_names_only_the_demos_flags(tmp_path):
    """A rerun with other DEMO_ARGS in the same folder: the advice names --fresh and --run-dir and
    the demo's own flags, never run_inference's --output_file or --allow_config_change."""
    import demo

    from collectkit.tasks import prompts
    from collectkit.store import append as store
    from collectkit.collect.client import sampling_params
    from collectkit.collect.manifest import run_signature

    parser = demo.build_parser()
    first = demo.collection_settings(parser.parse_args(["--run-dir", str(tmp_path)]), 1, tmp_path)
    results = tmp_path / "r.jsonl"
    results.write_text("")
    store.write_json_atomic(store.manifest_path(results), {"signature": run_signature(
        first, sampling_params(first), prompts)})
    demo.check_resumable(first, results)  # the same settings resume
    other = demo.collection_settings(parser.parse_args(
        ["--run-dir", str(tmp_path), "--k", "2", "--max-tokens", "64"]), 1, tmp_path)
    with pytest.raises(demo.DemoError) as caught:
        demo.check_resumable(other, results)
    message = str(caught.value)
    assert "--k 4" in message and "--k 2" in message and "--max-tokens 64" in message
    assert "--fresh" in message and "--run-dir" in message
    assert "--output_file" not in message and "--allow_config_change" not in message


def test_chooser_with_a_wrong_gguf_path_says_no_such_file_even_with_a_server_on_the_port(tmp_path):
    """A server already recorded on the port (serving another model): a mistyped .gguf path is
    'no such file: PATH', not a port conflict naming the model 'nope'."""
    import os

    from stub_server import StubServer

    from collectkit.serve import process_tree
    from collectkit.serve.server import ServerHandle, _save_state, state_dir

    with StubServer() as stub:
        port = int(stub.base_url.rsplit(":", 1)[1].split("/")[0])
        _save_state(ServerHandle(os.getpid(), stub.base_url, stub.model, "llamacpp", "log",
                                 str(state_dir() / f"server-{port}.json"), time.time(),
                                 process_tree.start_time(os.getpid())))
        chooser = ModelChooser(str(tmp_path / "nope.gguf"), port=port)
        chooser.start_button.click()
        status = chooser.status.value
    assert f"error: no such file: {tmp_path / 'nope.gguf'}" in status, status
    assert "port" not in status and "already" not in status


def test_committed_metadata_is_what_the_kernel_reports():
    """JupyterLab writes the kernel's spec and language_info into a notebook when its kernel starts
    and marks it modified if they differ: the committed ones must be what ipykernel reports (the
    Python version aside, which is the project venv's; the browser test checks it in full)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec("python3")
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.kernel_info(reply=True, timeout=60)["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    reported = dict(reply["language_info"])
    for relative in ALL_NOTEBOOKS:
        metadata = read(relative).metadata
        assert metadata["kernelspec"] == {"name": "python3", "display_name": spec.display_name,
                                          "language": spec.language}, relative
        committed = dict(metadata["language_info"])
        assert committed.pop("version") and reported.get("version")
        assert committed == {k: v for k, v in reported.items() if k != "version"}, relative


@pytest.mark.notebook
def test_interrupting_notebook_02s_collection_prints_one_line(tmp_path):
    """Kernel → Interrupt during notebook 02's collection (a real kernel, a slow stub server): one
    friendly line, no CancelledError traceback; what finished is saved and the manifest says
    interrupted."""
    from jupyter_client.manager import start_new_kernel
    from stub_server import StubServer

    nb = read("notebooks/02_run_inference.ipynb")
    cells = code_cells(nb)
    collect_at = next(i for i, cell in enumerate(cells) if "collect(" in cell.source)
    with StubServer(completion_tokens=8, delay=0.5) as stub:
        overrides = (f"api_base = {stub.base_url!r}\nmodel = {stub.model!r}\n"
                     f"num_problems = '12'\nk_responses = 2\nmax_tokens = 16\nmax_concurrent = 1\n"
                     f"run_dir = {str(tmp_path)!r}")
        manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT / "notebooks"))
        try:
            for cell in [cells[0].source, overrides, *(c.source for c in cells[1:collect_at])]:
                reply = client.execute_interactive(cell, timeout=60, output_hook=lambda m: None)
                assert reply["content"]["status"] == "ok", reply["content"]
            errors, streams = [], []

            def hook(message):
                if message["msg_type"] == "error":
                    errors.append(message["content"])
                elif message["msg_type"] == "stream":
                    streams.append(message["content"]["text"])

            results = tmp_path / f"{stub.model}_MATH_500_MMLU_Pro.jsonl"
            client.execute(cells[collect_at].source)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    results.exists() and len(results.read_text().splitlines()) >= 2):
                time.sleep(0.05)
            manager.interrupt_kernel()
            while True:
                message = client.get_iopub_msg(timeout=30)
                hook(message)
                if (message["msg_type"] == "status" and message["content"]["execution_state"]
                        == "idle" and message["parent_header"].get("msg_type") == "execute_request"):
                    break
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    assert [e["ename"] for e in errors] == ["Interrupted"], errors
    assert errors[0]["traceback"] == [
        "interrupted: finished problems are saved; run this cell again to continue"]
    assert "CancelledError" not in "".join(streams)
    saved = len(results.read_text().splitlines())
    assert 2 <= saved < 12
    assert ns.load_manifest(results)["status"] == "interrupted"


@pytest.mark.notebook
def test_grading_notebook_shows_each_table_once_without_float_noise(tmp_path):
    """Notebook 03 on a small run (stub server): no table printed twice, no interval bound shown
    as 5.55e-17 (a Wilson bound at accuracy 0)."""
    from stub_server import StubServer

    from collectkit.collect.settings import Settings
    from collectkit.collect.run import run_collection
    from collectkit.tasks.load import load_problems

    with StubServer(completion_tokens=8) as stub:  # MATH-500 answers wrong: accuracy 0 there
        settings = Settings(model=stub.model, api_base=stub.base_url, output_dir=str(tmp_path),
                            k_responses=2, max_tokens=16, max_retries=0, api_key="sk-test")
        run_collection(settings, load_problems("both", 6), output_path=tmp_path / "r.jsonl",
                       progress=False)
    nb = execute("notebooks/03_extract_answers.ipynb", tmp_path / "03.ipynb",
                 run_dir=str(tmp_path))
    tables = [output["data"]["text/plain"] for cell in code_cells(nb)
              for output in cell.outputs if output.output_type == "execute_result"]
    assert len(tables) >= 3 and len(set(tables)) == len(tables), "a table is shown twice"
    assert "e-1" not in "".join(tables) and "e-0" not in "".join(tables)
    assert "0.00" in tables[0]  # the MATH-500 accuracy and its lower bound
