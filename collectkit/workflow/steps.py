"""serve → settings → collect → grade: the steps of a run, with keyword arguments named as the
CLI's flags (`collectkit run --k_responses 4` is `collectkit.collect(k_responses=4)`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from collectkit.analyze.live import LiveGrader
from collectkit.collect.run import collect as collect_into, default_output_path
from collectkit.collect.settings import Settings
from collectkit.workflow.files import (Interrupted, find_results_file, grade_and_write,
                                      interruptible, resolve_model)
from collectkit.workflow.servers import describe_server, ensure_server, keep_or_stop
from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.collect.shard_merge import MergeError, MergeReport, merge_shards
from collectkit.collect.shards import unsharded_file
from collectkit.serve.server import ServerHandle, served_models
from collectkit.tasks.protocols import with_recommended_sampling
from collectkit.workflow.run import Run

__all__ = ["Interrupted", "Server", "collect", "grade", "merge", "results_file", "serve",
           "settings"]


class Server:
    """A running inference server: `url`, `model`, `pid`, `models()`, `stop()`."""

    def __init__(self, handle: ServerHandle, reused: bool = False):
        self.handle, self.reused = handle, reused
        self.url, self.model, self.pid = handle.base_url, handle.model_id, handle.pid

    def models(self) -> list[str]:
        """What the server lists at /v1/models now."""
        return served_models(self.url)

    def keep_or_stop(self, keep_running: bool = True, stopped_by: str = "") -> str:
        """Leave it running for the next notebooks (the line says how to stop it), or stop it."""
        return keep_or_stop(self.handle, keep_running, stopped_by)

    def stop(self) -> None:
        self.handle.stop()

    def __repr__(self) -> str:
        return describe_server(self.handle, self.reused)


def serve(model: str = EMBEDDED_MODEL, *, engine: str = "auto", port: int = 8000,
          host: str = "127.0.0.1", **flags: Any) -> Server:
    """Start an inference server (vLLM on a GPU, llama.cpp for the embedded model and .gguf
    files), or reuse the one recorded for `port` when it serves `model`; returns once
    /v1/models lists it. `flags` are `collectkit serve`'s (max_model_len, gpu_util, dtype, …);
    None leaves the engine's default."""
    handle, reused = ensure_server(model, engine=engine, host=host, port=port, **flags)
    return Server(handle, reused)


def settings(**flags: Any) -> Settings:
    """The run's settings from `collectkit run`'s flags (model, dataset, num_problems,
    k_responses, temperature, max_tokens, …), over `.env` and `COLLECTKIT_*` variables, with the
    protocol's recommended sampling for each value not given (a value given is kept, the
    kit's default too, as on the command line). An empty `model` asks the local server which
    it serves."""
    flags = {key: value for key, value in flags.items() if value is not None}
    if not flags.get("model"):
        flags["model"] = resolve_model(
            "", port=flags.get("server_port", 8000), host=flags.get("server_host", "127.0.0.1"),
            api_mode=flags.get("api_mode", "local"), api_base=flags.get("api_base", ""))
    return with_recommended_sampling(Settings.load(flags), given=flags)


def results_file(run_settings: Settings) -> Path:
    """Where `collect` writes these settings' results (the same settings: the same file)."""
    return default_output_path(run_settings)


async def collect(run_settings: Settings | None = None, *, output_file: str | Path | None = None,
                  progress: bool = True, **flags: Any) -> Run:
    """Collect k responses per problem (`await collectkit.collect(...)` in a notebook). Resumes
    the same results file when called again; Kernel → Interrupt stops it with one line, keeping
    what finished. Returns the run, with the collection's figures in `run.stats`."""
    run_settings = run_settings or settings(**flags)
    path = Path(output_file) if output_file else default_output_path(run_settings)
    stats = await interruptible(collect_into(run_settings, output_path=path, progress=progress,
                                              live=LiveGrader()))
    return Run.open(path, stats=stats, max_tokens=run_settings.max_tokens)


def grade(results: str | Path | Run, *, match: str = "first", workers: int = 0,
          protocol: str = "", verify_timeout: int = 5) -> Run:
    """Extract and grade every response of a results file (or the newest in a folder), writing
    X.processed.jsonl and X.summary.json beside it (`collectkit extract -i X.jsonl`), a row at
    a time as extract does; the run's rows are read back from the processed file when asked."""
    source = results.path if isinstance(results, Run) else Path(results)
    if source.is_dir():
        source = find_results_file(source)
    graded = grade_and_write(source, match=match, workers=workers or None, protocol=protocol,
                             verify_timeout=verify_timeout)
    return Run(graded.processed_file, graded_from=graded)


def merge(inputs: Iterable[str | Path], *, output: str | Path | None = None) -> MergeReport:
    """Join the results files of a run's shards (`collectkit run --shard I/N`) into one,
    each problem once, with a manifest combining theirs (`collectkit merge`). `output`
    defaults to X.jsonl beside X_shard-I-of-N.jsonl; the report's `line()` and `warnings()`
    say what was merged, and `collectkit.grade(report.output)` grades it."""
    inputs = [Path(path) for path in inputs]
    if output is None:
        names = {unsharded_file(path) for path in inputs}
        if len(names) != 1 or None in names:
            raise MergeError("the shard files' names do not share one X_shard-I-of-N stem; "
                             "give output=FILE (--output FILE)")
        output = names.pop()
    return merge_shards(inputs, Path(output))
