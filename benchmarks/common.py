"""Shared helpers for the benchmark scripts (not timed tests: they print measured figures).

Every script prints its figures and, on its LAST line, the ratio that matters. With
`--summary-json PATH` it also writes its figures there, which `run_all.py` turns into one table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _path in (str(REPO), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from stub_server import StubServer, free_port  # noqa: E402  (tests/stub_server.py)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def restore_interrupts() -> None:
    """Ctrl-C (SIGINT) and SIGTERM end a benchmark through its finally blocks, which stop the
    servers it started — also when it was started in the background, where SIGINT begins
    ignored (and would leave a killed benchmark's engine running)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)


restore_interrupts()

__all__ = ["REPO", "TESTS", "StubServer", "free_port", "cpu_seconds", "median", "spread",
           "base_parser", "write_summary", "run_child", "load_average", "engine",
           "tokenize_counter", "max_rss_mb", "other_engines", "wait_for_quiet",
           "ContentionMonitor", "restore_interrupts"]


def cpu_seconds() -> float:
    """User + system CPU of this process only (all its threads), never of its children."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def max_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], digits: int = 3) -> str:
    """`median [min–max] (n=…)` for a line of output."""
    if not values:
        return "n/a"
    fmt = f"{{:.{digits}g}}"
    return (f"{fmt.format(median(values))} [{fmt.format(min(values))}–"
            f"{fmt.format(max(values))}] (n={len(values)})")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions / smaller sizes (used by run_all.py)")
    parser.add_argument("--summary-json", help="also write the figures as JSON to this file")
    return parser


def write_summary(path: str | None, name: str, figures: dict[str, Any],
                  goals: list[dict[str, Any]]) -> None:
    """goals: [{"what", "value", "goal", "met"}] for run_all.py's final table."""
    if not path:
        return
    Path(path).write_text(json.dumps({"name": name, "figures": figures, "goals": goals},
                                     indent=2, default=str))


def run_child(args: list[str], timeout: float = 900.0) -> dict[str, Any]:
    """Run `python <args>` in a fresh process; its last stdout line is a JSON object."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the embedded engine

@contextmanager
def engine(n_parallel: int = 8, max_model_len: int = 2048) -> Iterator[Any]:
    """The embedded llama.cpp engine on a free port; stopped by its handle (PID) on exit.

    Its state file and log go to a private folder so nothing touches the user's own servers
    (removed afterwards; a failed start shows the log's tail in its error). Waits for other
    tests/benchmarks/demos that hold the engine lock (collectkit.serve.engine_lock).
    """
    from collectkit.serve import server as serve
    from collectkit.serve.engine_lock import engines_exclusively

    with engines_exclusively(f"benchmark {Path(sys.argv[0]).name}"):
        yield from _engine(serve, n_parallel, max_model_len)


def _engine(serve, n_parallel: int, max_model_len: int) -> Iterator[Any]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="collectkit-bench-engine-"))
    saved = os.environ.get("COLLECTKIT_STATE_DIR")
    os.environ["COLLECTKIT_STATE_DIR"] = str(folder / "state")
    try:
        handle = serve.start_server(engine="llamacpp", host="127.0.0.1", port=free_port(),
                                    n_parallel=n_parallel, max_model_len=max_model_len,
                                    log_dir=folder)
    except BaseException:
        _restore_env("COLLECTKIT_STATE_DIR", saved)
        raise
    try:
        yield handle
    finally:
        handle.stop()
        _restore_env("COLLECTKIT_STATE_DIR", saved)
        shutil.rmtree(folder, ignore_errors=True)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def tokenize_counter(base_url: str, body=lambda text: {"content": text},
                     token_count=lambda reply: len(reply["tokens"])):
    """A function text → number of tokens, from the engine's own tokenizer (POST /tokenize;
    llama.cpp's request and reply by default, `body`/`token_count` for another engine's).

    Used for both sides of every comparison: the engine's usage.completion_tokens undercounts
    with n>1. Re-tokenizing the returned text gives the generated count minus the end-of-sequence
    token of a response that stopped (at most 1 per response, the same on both sides).
    """
    import urllib.request

    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    cache: dict[str, int] = {}

    def count(text: str) -> int:
        if not text:
            return 0
        if text not in cache:
            request = urllib.request.Request(
                root + "/tokenize", data=json.dumps(body(text)).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                cache[text] = token_count(json.loads(response.read()))
        return cache[text]

    return count


def now() -> float:
    return time.perf_counter()


# ------------------------------------------------------------------ other engines on the machine

def other_engines(own_pids: set[int] = frozenset()) -> list[tuple[int, str]]:
    """Running llama.cpp (collectkit's) or vLLM servers not started by this benchmark.

    Two llama.cpp engines on 2 cores, each spinning one thread per core, slow each other down
    tens of times over: engine timings taken beside one are meaningless.
    """
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in own_pids or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if _parent(proc) == os.getpid():
            continue  # started by this benchmark
        if "collectkit.serve.llamacpp_server" in words or any(
                w.endswith("vllm") or "vllm.entrypoints" in w for w in words[:3]):
            found.append((int(proc.name), " ".join(words)[:100]))
    return found


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_for_quiet(max_wait_s: float, own_pids: set[int] = frozenset()) -> None:
    """Wait up to max_wait_s for other engines to end (prints what it waits for)."""
    deadline = time.monotonic() + max_wait_s
    others = other_engines(own_pids)
    if others:
        print("other inference servers are running: "
              + "; ".join(f"PID {pid} {cmd}" for pid, cmd in others), flush=True)
    while others and time.monotonic() < deadline:
        time.sleep(5)
        others = other_engines(own_pids)
    if others:
        print("warning: measuring beside them; engine figures will be low and unreliable",
              flush=True)


class ContentionMonitor:
    """Samples, every few seconds in a thread, other engines and the load average while a
    benchmark runs, so its output can say whether its engine figures were taken on a quiet
    machine."""

    def __init__(self, interval_s: float = 3.0) -> None:
        self.own_pids: set[int] = set()
        self.seen: dict[int, str] = {}
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            for pid, command in other_engines(self.own_pids):
                self.seen.setdefault(pid, command)
            self.loads.append(os.getloadavg()[0])

    def __enter__(self) -> "ContentionMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def verdict(self) -> str:
        load = (f"1-min load median {median(self.loads):.2f}, max {max(self.loads):.2f}"
                if self.loads else "load not sampled")
        if self.seen:
            return (f"CONTENDED: {len(self.seen)} other inference server(s) ran meanwhile "
                    f"(PIDs {', '.join(map(str, self.seen))}); {load}")
        return f"no other inference server seen; {load}"

    @property
    def contended(self) -> bool:
        return bool(self.seen)
