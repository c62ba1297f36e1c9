"""Helpers behind the notebooks (notebooks/0*.ipynb, colab/): the model chooser, reusing a running
server, finding a run folder's files, grading into the processed file, small display tables.

The notebooks define no functions of their own: whatever logic they need lives here or in the rest
of the package, so it is tested and importable (`python -m collectkit.demo` runs them headless).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import store
from .answer_extraction import grade_file, output_paths, write_graded
from .config import EMBEDDED_MODEL, split_urls
from .serve import ServeError, ServerHandle, find_server, served_models, start_server

# Offered by the chooser in notebook 01; any other vLLM model id, or a .gguf path, can be typed in.
COMMON_MODELS = (
    EMBEDDED_MODEL,
    "google/gemma-3-4b-it",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
)
ENGINES = ("auto", "vllm", "llamacpp")
PROCESSED_SUFFIX = ".processed.jsonl"
SUMMARY_SUFFIX = ".summary.json"
NOT_RESULTS_SUFFIXES = (PROCESSED_SUFFIX, ".errors.jsonl")
PREVIEW_CHARS = 80


# ------------------------------------------------------------------------------ choosing a model

class ModelChooser:
    """An ipywidgets chooser: model (a list of common ones, free text allowed) and engine.

    Display it in one cell, choose, then run the next cell, which reads `.model` and `.engine`.
    """

    def __init__(self, model: str = EMBEDDED_MODEL, engine: str = "auto",
                 models: Iterable[str] = COMMON_MODELS) -> None:
        import ipywidgets as widgets

        options = list(dict.fromkeys([*models, model]))
        style = {"description_width": "70px"}
        layout = widgets.Layout(width="520px")
        self.model_box = widgets.Combobox(
            value=model, options=options, ensure_option=False, description="Model",
            placeholder="a vLLM model id, a .gguf path, or pick one", style=style, layout=layout)
        self.engine_box = widgets.Dropdown(
            value=engine, options=list(ENGINES), description="Engine", style=style)
        self.note = widgets.HTML(self._note())
        self.model_box.observe(lambda _change: self._refresh(), names="value")
        self.engine_box.observe(lambda _change: self._refresh(), names="value")
        self.widget = widgets.VBox([self.model_box, self.engine_box, self.note])

    @property
    def model(self) -> str:
        return self.model_box.value.strip() or EMBEDDED_MODEL

    @property
    def engine(self) -> str:
        return self.engine_box.value

    def _note(self) -> str:
        engine = engine_for(self.model_box.value.strip() or EMBEDDED_MODEL, self.engine_box.value)
        where = ("llama.cpp on the CPU" if engine == "llamacpp" else
                 "vLLM on a CUDA GPU" if engine == "vllm" else engine)
        return f"<i>will start: {where}. Then run the next cell.</i>"

    def _refresh(self) -> None:
        self.note.value = self._note()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def engine_for(model: str, engine: str = "auto") -> str:
    """The engine `auto` would pick, without probing for a GPU (for display only)."""
    if engine != "auto":
        return engine
    if model == EMBEDDED_MODEL or model.endswith(".gguf"):
        return "llamacpp"
    return "vllm"


def served_model_id(model: str, engine: str = "auto") -> str:
    """The id a server started for `model` lists at /v1/models (a .gguf file serves its stem)."""
    if engine_for(model, engine) == "llamacpp" and model != EMBEDDED_MODEL:
        return Path(model).stem
    return model


# ------------------------------------------------------------------------------ the server

def ensure_server(model: str = EMBEDDED_MODEL, *, engine: str = "auto", host: str = "127.0.0.1",
                  port: int = 8000, reuse: bool = True, replace: bool = False,
                  **start_kwargs: Any) -> tuple[ServerHandle, bool]:
    """(handle, reused): the server recorded for this port when it already serves the model
    (and `reuse`), else a new one from `serve.start_server` (which returns once /v1/models lists
    the model). A stale record (process gone) is cleared; a recorded server that serves another
    model is stopped only when `replace`, otherwise this raises ServeError saying what to do."""
    wanted = served_model_id(model, engine)
    recorded = find_server(port)
    if recorded is not None:
        answering = served_models(recorded.base_url)
        if reuse and wanted in answering:
            return recorded, True
        if not recorded.running():
            recorded.stop()  # only clears the stale state file
        elif replace or wanted in answering:
            recorded.stop()
        else:
            what = (f"serving {', '.join(answering)}, not {wanted}" if answering else
                    f"recorded for {recorded.model_id}, not answering at {recorded.base_url}")
            raise ServeError(
                f"port {port} already has a server (PID {recorded.pid}) {what}; set replace = "
                f"True, choose another port, or stop it: python -m collectkit.serve_llm --stop "
                f"--port {port}")
    start_kwargs = {key: value for key, value in start_kwargs.items() if value is not None}
    return start_server(model, engine=engine, host=host, port=port, **start_kwargs), False


def describe_server(handle: ServerHandle, reused: bool = False) -> str:
    how = "reused the running" if reused else "started a"
    return (f"{how} {handle.engine} server: PID {handle.pid}, URL {handle.base_url}, "
            f"model {handle.model_id}\nlog: {handle.log_path}\nstate: {handle.state_path}")


def resolve_model(model: str = "", *, port: int = 8000, host: str = "127.0.0.1",
                  api_mode: str = "local", api_base: str = "") -> str:
    """The model id to request: `model` if given; in local mode otherwise the one the server
    recorded for `port` (notebook 01's) serves, or the first one that server lists."""
    if model:
        return model
    if api_mode != "local":
        raise ValueError("set model: a remote API needs the model id")
    recorded = find_server(port)
    if recorded is not None and not api_base and recorded.model_id in served_models(
            recorded.base_url):
        return recorded.model_id
    urls = split_urls(api_base) if api_base else [f"http://{host}:{port}/v1"]
    for url in urls:
        listed = served_models(url)
        if listed:
            return listed[0]
    raise ServeError(f"no server answers at {', '.join(urls)}; run notebook 01 (or python -m "
                     f"collectkit.serve_llm --port {port}) first, or set model and api_base")


def stop_recorded_server(port: int) -> ServerHandle | None:
    """Stop the server recorded for `port` by its PID (never by name); None if none is recorded."""
    handle = find_server(port)
    if handle is not None:
        handle.stop()
    return handle


# ------------------------------------------------------------------------------ run folder files

def _newest(paths: Iterable[Path]) -> Path | None:
    paths = [p for p in paths if p.is_file()]
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None


def find_results_file(run_dir: str | Path, results_file: str | Path = "") -> Path:
    """`results_file` if given, else the newest results JSONL in `run_dir` (not a processed
    file nor an errors log)."""
    if results_file:
        path = Path(results_file)
        if not path.is_file():
            raise FileNotFoundError(f"results file not found: {path}")
        return path
    found = _newest(p for p in Path(run_dir).glob("*.jsonl")
                    if not p.name.endswith(NOT_RESULTS_SUFFIXES))
    if found is None:
        raise FileNotFoundError(f"no results file (*.jsonl) in {run_dir}; run notebook 02 first")
    return found


def find_processed_file(run_dir: str | Path, processed_file: str | Path = "") -> Path:
    """`processed_file` if given, else the newest `*.processed.jsonl` in `run_dir`."""
    if processed_file:
        path = Path(processed_file)
        if not path.is_file():
            raise FileNotFoundError(f"processed file not found: {path}")
        return path
    found = _newest(Path(run_dir).glob("*" + PROCESSED_SUFFIX))
    if found is None:
        raise FileNotFoundError(f"no processed file (*{PROCESSED_SUFFIX}) in {run_dir}; "
                                "run notebook 03 first")
    return found


def stem_of(path: str | Path) -> str:
    """`X` for `X.jsonl` and `X.processed.jsonl`."""
    name = Path(path).name
    for suffix in (PROCESSED_SUFFIX, ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def processed_paths(results_file: str | Path) -> tuple[Path, Path]:
    """(processed, summary) beside a results file: X.processed.jsonl and X.summary.json."""
    return output_paths(Path(results_file), None, many_inputs=False)


def load_manifest(results_or_processed: str | Path) -> dict[str, Any] | None:
    """The collection manifest (X.manifest.json) beside a results or processed file."""
    path = Path(results_or_processed)
    return store.read_json(path.with_name(stem_of(path) + ".manifest.json"))


def run_files(run_dir: str | Path) -> list[Path]:
    """Every file in a run folder, sorted (for the demo's listing)."""
    return sorted(p for p in Path(run_dir).rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ grading

@dataclass
class GradedRun:
    rows: list[dict[str, Any]]
    results_file: Path
    processed_file: Path
    summary_file: Path
    summary: dict[str, Any]

    def line(self) -> str:
        return (f"graded {len(self.rows)} problems from {self.results_file.name} → "
                f"{self.processed_file.name}, {self.summary_file.name}")


def grade_and_write(results_file: str | Path, match: str = "first",
                    workers: int | None = None) -> GradedRun:
    """Grade a results file and write X.processed.jsonl and X.summary.json beside it, the same
    files (and summary layout) as `python -m collectkit.answer_extraction -i X.jsonl`."""
    source = Path(results_file)
    rows = grade_file(source, match=match, workers=workers or None)
    processed, summary_path = processed_paths(source)
    summary = write_graded(source, rows, processed, summary_path, match)
    return GradedRun(rows, source, processed, summary_path, summary)


# ------------------------------------------------------------------------------ display tables

def collected_table(rows: list[dict[str, Any]], limit: int | None = None) -> pd.DataFrame:
    """One line per collected problem: where it is from, its responses and how they ended."""
    records = []
    for row in rows[:limit] if limit else rows:
        responses = row.get("responses") or []
        finishes: dict[str, int] = {}
        for response in responses:
            reason = str(response.get("finish_reason"))
            finishes[reason] = finishes.get(reason, 0) + 1
        tokens = [(r.get("usage") or {}).get("completion_tokens") for r in responses]
        tokens = [t for t in tokens if t is not None]
        first = (responses[0].get("full_response") or "") if responses else ""
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "category": row.get("category"), "gold": row.get("answer_correct"),
            "responses": len(responses),
            "finish": ", ".join(f"{k}×{v}" for k, v in sorted(finishes.items())),
            "tokens_reported": sum(tokens) if tokens else None,
            "attempts": row.get("attempts"),
            "first_response": " ".join(first.split())[:PREVIEW_CHARS],
        })
    return pd.DataFrame.from_records(records, columns=[
        "unique_id", "dataset", "category", "gold", "responses", "finish", "tokens_reported",
        "attempts", "first_response"])


def graded_table(rows: list[dict[str, Any]], limit: int | None = None) -> pd.DataFrame:
    """One line per graded problem: gold answer, extracted answers, how many were correct."""
    records = []
    for row in rows[:limit] if limit else rows:
        responses = row.get("responses") or []
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "gold": row.get("answer_correct"),
            "extracted": [r.get("extracted_answer") for r in responses],
            "correct": sum(bool(r.get("is_correct")) for r in responses),
            "of": len(responses),
        })
    return pd.DataFrame.from_records(records, columns=[
        "unique_id", "dataset", "gold", "extracted", "correct", "of"])


__all__ = [
    "COMMON_MODELS", "ENGINES", "GradedRun", "ModelChooser", "ServeError", "collected_table",
    "describe_server", "engine_for", "ensure_server", "find_processed_file", "find_results_file",
    "grade_and_write", "graded_table", "load_manifest", "processed_paths", "resolve_model",
    "run_files", "served_model_id", "stem_of", "stop_recorded_server",
]
