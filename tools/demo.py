"""make demo (python tools/demo.py) — the whole pipeline on this machine's CPU, end to end.

Runs the five notebooks with papermill on the embedded engine (llama.cpp + SmolLM2-135M): start
the server on a free port (01), collect k responses for a few MATH-500 and MMLU-Pro problems (02),
extract and grade them (03), draw the figures (04), then collect the same problems once more at
temperature 1.0 (02 again, k halved, into compare/) and compare the two runs (05). Executed
notebooks (in notebooks/<time>/, one folder per demo run, so a rerun keeps the earlier ones),
results, manifest, processed file, summary and PNG figures all go into one run folder (default
runs/demo/); then it stops the server it started (by its PID) and prints the accuracy table and
the files it made.

Running it again with the same folder resumes: problems already collected are skipped (the
results file is append-only), so a second run only re-grades and re-draws; a larger
--num-problems collects just the missing ones. Sampling settings (--k, --max-tokens) are recorded
with the results, and a run asking for other ones stops with a message; pass --fresh to delete the
demo's files in the folder first, or use another --run-dir.

It lives in the repository, not in the installed package, because what it runs are the
repository's notebooks (notebooks/*.ipynb): a pip-installed kit has no notebooks to run, and
shipping a second copy of them inside the package would be one more thing to keep in sync.
Without a checkout, the Colab notebook is the end-to-end run.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from collectkit.collect.settings import EMBEDDED_MODEL

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ("01_serve_llm.ipynb", "02_run_inference.ipynb", "03_extract_answers.ipynb",
             "04_analyze.ipynb", "05_compare.ipynb")
COMPARE_TEMPERATURE = 1.0  # 05 compares the demo's run with one of the same problems at this
COMPARE_DIR = "compare"
# MMLU-Pro zero-shot to stay quick on CPU: the authors' 5-shot prompt (the kit's default) is ~2,000
# tokens per problem.
DEMO_PROTOCOL = "mmlu_pro_zero_shot"
DEFAULT_RUN_DIR = "runs/demo"
# Files --fresh removes (only what the demo itself writes, never the folder as a whole).
DEMO_PATTERNS = ("*.jsonl", "*.manifest.json", "*.summary.json", "*.tmp", "server-*.log",
                 "notebooks/*/*.ipynb", "notebooks/*/kernels.log", "figures/*.png",
                 f"{COMPARE_DIR}/*.jsonl", f"{COMPARE_DIR}/*.json", f"{COMPARE_DIR}/*.csv",
                 f"{COMPARE_DIR}/*.parquet", f"{COMPARE_DIR}/*.png")
# The demo's flags for the settings a resumed run must keep (the rest it never changes).
DEMO_FLAGS = {"k_responses": "--k", "max_tokens": "--max-tokens", "temperature": "temperature"}
TABLE_COLUMNS = ["n_problems", "n_responses", "accuracy", "ci_low", "ci_high", "pass@k",
                 "maj@k", "unparsed_rate"]


class DemoError(RuntimeError):
    """The demo cannot run or a notebook failed; the message says which and where to look."""


@dataclass
class DemoResult:
    run_dir: Path
    port: int
    server_pid: int | None = None
    server_started: bool = False
    results_file: Path | None = None
    executed_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    files: list[Path] = field(default_factory=list)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def executed_folder(run_dir: Path) -> Path:
    """A new run_dir/notebooks/<time>/ for this run's executed notebooks (earlier ones stay)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        folder = run_dir / "notebooks" / f"{stamp}{suffix}"
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise DemoError(f"too many demo runs this second in {run_dir / 'notebooks'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make demo DEMO_ARGS=... (python tools/demo.py)", description=__doc__.split("\n\n")[0],
        epilog="Defaults take about 2.5 minutes on 2 idle CPU cores (142 s measured).")
    parser.add_argument("--run-dir", default=DEFAULT_RUN_DIR,
                        help=f"folder for everything the demo makes (default {DEFAULT_RUN_DIR})")
    parser.add_argument("--num-problems", type=int, default=20,
                        help="problems, interleaved MATH-500 / MMLU-Pro (default 20: 10 + 10)")
    parser.add_argument("--dataset", default="both", choices=["both", "math500", "mmlu_pro"],
                        help="datasets (default both)")
    parser.add_argument("--k", type=int, default=4, help="responses per problem (default 4)")
    parser.add_argument("--max-tokens", type=int, default=256,
                        help="max tokens per response (default 256)")
    parser.add_argument("--port", type=int, default=0,
                        help="server port (default: a free one); a collectkit server already "
                        "recorded there serving the embedded model is reused, and left running")
    parser.add_argument("--n-parallel", type=int, default=8,
                        help="llama.cpp: sequences decoded together (default 8)")
    parser.add_argument("--fresh", action="store_true",
                        help="delete the demo's files in --run-dir first instead of resuming")
    return parser


def fresh_start(run_dir: Path) -> list[Path]:
    removed = []
    for pattern in DEMO_PATTERNS:
        for path in run_dir.glob(pattern):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def collection_settings(args: argparse.Namespace, port: int, run_dir: Path):
    from collectkit.collect.settings import Settings

    return Settings.load({
        "model": EMBEDDED_MODEL, "api_mode": "local", "api_base": "", "server_port": port,
        "server_host": "127.0.0.1", "dataset": args.dataset,
        "num_problems": str(args.num_problems), "k_responses": args.k,
        "max_tokens": args.max_tokens, "output_dir": str(run_dir),
        "protocol": DEMO_PROTOCOL if args.dataset != "math500" else ""}, env_file=None)


def check_resumable(settings: Any, results_file: Path) -> None:
    """Fail before starting anything when the run folder holds results sampled otherwise."""
    from collectkit.tasks import prompts
    from collectkit.collect.client import sampling_params
    from collectkit.collect.manifest import ConfigMismatch, check_signature, run_signature

    try:
        check_signature(results_file, run_signature(settings, sampling_params(settings), prompts),
                        allow_change=False)
    except ConfigMismatch as exc:  # its advice names run_inference's flags: word the demo's own
        was = ", ".join(f"{DEMO_FLAGS.get(k, k)} {v}" for k, v in exc.recorded.items())
        now = ", ".join(f"{DEMO_FLAGS.get(k, k)} {v}" for k, v in exc.asked.items())
        raise DemoError(f"{results_file.parent} holds a demo run made with {was}; this one asks "
                        f"for {now}. The demo resumes its run folder: pass --fresh to start over "
                        f"there, or choose another --run-dir.") from None


def notebook_parameters(args: argparse.Namespace, port: int, run_dir: Path) -> dict[str, dict]:
    common = {"run_dir": str(run_dir)}
    return {
        "01_serve_llm.ipynb": {**common, "model": EMBEDDED_MODEL, "engine": "llamacpp",
                               "port": port, "interactive": False, "keep_running": True,
                               "stopped_by": "the demo",
                               "n_parallel": args.n_parallel, "max_model_len": 4096},
        "02_run_inference.ipynb": {**common, "model": EMBEDDED_MODEL, "port": port,
                                   "dataset": args.dataset,
                                   "num_problems": str(args.num_problems),
                                   "k_responses": args.k, "max_tokens": args.max_tokens,
                                   "protocol": DEMO_PROTOCOL if args.dataset != "math500" else ""},
        "03_extract_answers.ipynb": {**common},
        "04_analyze.ipynb": {**common},
        "05_compare.ipynb": {**common, "out_dir": str(run_dir / COMPARE_DIR)},
    }


class _ProgressWatcher:
    """Counts lines of the results file while notebook 02 runs (the notebook's own bar lives in
    the executed notebook): a tqdm bar on a terminal, a plain line per change in a log."""

    def __init__(self, path: Path, total: int, echo=print) -> None:
        self.path, self.total, self.echo = path, total, echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _count(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                return sum(1 for _ in handle)
        except OSError:
            return 0

    def _run(self) -> None:
        if not sys.stdout.isatty():
            return self._run_plain()
        from tqdm import tqdm

        with tqdm(total=self.total, unit="problem", desc="  collected", leave=True,
                  file=sys.stdout, dynamic_ncols=True) as bar:
            while True:
                stopping = self._stop.wait(1.0)
                bar.n = min(self.total, self._count() - self._before)
                bar.refresh()
                if stopping:
                    return

    def _run_plain(self) -> None:
        shown = -1
        while True:
            stopping = self._stop.wait(2.0)
            done = min(self.total, self._count() - self._before)
            if done != shown:
                shown = done
                self.echo(f"  collected {done}/{self.total} problems "
                          f"({time.monotonic() - self._started:.0f} s)")
            if stopping:
                return

    def __enter__(self) -> "_ProgressWatcher":
        self._before = self._count()  # a resumed run counts only what it adds
        self.total = max(0, self.total - self._before)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 to a log while kernels start (they inherit it and print warnings
    there), so the terminal shows only the demo's own lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def run_notebook(name: str, parameters: dict[str, Any], output: Path) -> float:
    import papermill

    started = time.monotonic()
    try:
        with _stderr_to(output.parent / "kernels.log"):
            papermill.execute_notebook(str(NOTEBOOKS_DIR / name), str(output),
                                       parameters=parameters, kernel_name="python3",
                                       progress_bar=False, log_output=False,
                                       cwd=str(output.parent))
    except papermill.PapermillExecutionError as exc:
        raise DemoError(f"notebook {name} failed in cell {exc.exec_count}: {exc.ename}: "
                        f"{exc.evalue}\nthe executed notebook with the error: {output}") from None
    return time.monotonic() - started


def run_demo(args: argparse.Namespace, echo=print) -> DemoResult:
    from collectkit.collect.run import default_output_path
    from collectkit.serve.server import find_server

    started = time.monotonic()
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        removed = fresh_start(run_dir)
        echo(f"--fresh: removed {len(removed)} file(s) of an earlier demo from {run_dir}")
    port = args.port or free_port()
    result = DemoResult(run_dir=run_dir, port=port)
    settings = collection_settings(args, port, run_dir)
    result.results_file = default_output_path(settings)
    check_resumable(settings, result.results_file)
    second = settings.replace(temperature=COMPARE_TEMPERATURE, k_responses=max(1, args.k // 2),
                              output_dir=str(run_dir / COMPARE_DIR))
    check_resumable(second, default_output_path(second))
    executed = result.executed_dir = executed_folder(run_dir)
    parameters = notebook_parameters(args, port, run_dir)
    parameters["05_compare.ipynb"].update(
        results_files=f"{result.results_file},{default_output_path(second)}",
        labels=f"T={settings.temperature},T={second.temperature}")
    before = find_server(port)
    echo(f"collectkit demo: {args.num_problems} problems ({args.dataset}), k={args.k}, "
         f"max_tokens={args.max_tokens}, {EMBEDDED_MODEL} on llama.cpp at port {port}\n"
         f"MMLU-Pro is asked zero-shot ({DEMO_PROTOCOL}) to stay quick on CPU; the kit's default "
         f"is the authors' 5-shot prompt (mmlu_pro_official, ~2,000 tokens a problem)\n"
         f"run folder: {run_dir}")
    try:
        for name in NOTEBOOKS:
            if name.startswith("05"):
                rerun = f"02_run_inference_T{second.temperature}.ipynb"
                echo(f"▶ {rerun}: the same problems at temperature {second.temperature}, "
                     f"k={second.k_responses}, for 05")
                again = {**parameters["02_run_inference.ipynb"], "temperature": second.temperature,
                         "k_responses": second.k_responses, "run_dir": second.output_dir}
                with _ProgressWatcher(default_output_path(second), args.num_problems, echo):
                    result.timings[rerun] = run_notebook("02_run_inference.ipynb", again,
                                                         executed / rerun)
                echo(f"  done in {result.timings[rerun]:.1f} s")
            echo(f"▶ {name}")
            if name.startswith("02"):
                with _ProgressWatcher(result.results_file, args.num_problems, echo):
                    seconds = run_notebook(name, parameters[name], executed / name)
            else:
                seconds = run_notebook(name, parameters[name], executed / name)
            result.timings[name] = seconds
            if name.startswith("01"):
                handle = find_server(port)
                result.server_pid = handle.pid if handle else None
                result.server_started = handle is not None and (
                    before is None or handle.pid != before.pid)
                echo(f"  server PID {result.server_pid} at http://127.0.0.1:{port}/v1 "
                     f"({'started' if result.server_started else 'reused'})")
            echo(f"  done in {seconds:.1f} s")
    finally:
        handle = find_server(port)
        if handle is not None and (before is None or handle.pid != before.pid):
            handle.stop()  # by its PID (process group), never by name
            result.server_pid, result.server_started = handle.pid, True
            echo(f"stopped the demo's server (PID {handle.pid})")
    result.wall_s = time.monotonic() - started
    result.files = _run_files(run_dir)
    return result


def _run_files(run_dir: Path) -> list[Path]:
    from collectkit.workflow.files import run_files

    return run_files(run_dir)


def report(result: DemoResult, echo=print) -> None:
    import pandas as pd

    from collectkit.analyze import metrics
    from collectkit.workflow.files import processed_paths
    from collectkit.store.results import load_results

    processed, summary = processed_paths(result.results_file)
    rows = load_results(processed)
    with pd.option_context("display.width", 140, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        echo("\naccuracy (pass@1 averaged over k per problem; 95% Wilson interval over problems):")
        echo(metrics.accuracy_table(rows, by="dataset")[TABLE_COLUMNS].to_string())
    echo(f"\nfiles in {result.run_dir}:")
    for path in result.files:
        echo(f"  {path.relative_to(result.run_dir)}  ({path.stat().st_size:,} bytes)")
    timings = ", ".join(f"{name.split('_')[0]} {seconds:.0f} s"
                        for name, seconds in result.timings.items())
    echo(f"\nsummary: {summary}\nwall time {result.wall_s:.0f} s ({timings})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows at once in a pipe or a log too
    if args.num_problems < 1 or args.k < 1 or args.max_tokens < 1:
        print("error: --num-problems, --k and --max-tokens must be at least 1", file=sys.stderr)
        return 2
    from collectkit.serve.engine_lock import engines_exclusively

    try:
        with engines_exclusively("collectkit demo"):
            result = run_demo(args)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: collected problems are kept; run the demo again to continue",
              file=sys.stderr)
        return 130
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
