"""`collectkit` — one command: `collectkit serve|run|plan|merge|extract|compare|explore|export …`.

Each subcommand is the `main(argv)` of a module that also runs as `python -m collectkit.<module>`
and as a `collectkit-<name>` script; `python -m collectkit` is this command. A module is imported
only when its subcommand runs, so `collectkit --version` and `--help` stay quick and a missing
optional dependency affects only the subcommand that needs it.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from collectkit.cli.args import close_command, fail, program_name

PROG = "collectkit"


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS = {
    "serve": Command("collectkit.cli.serve", "start, list or stop a local inference server "
                     "(vLLM on a GPU, llama.cpp on a CPU)"),
    "run": Command("collectkit.cli.run", "collect k responses per problem into a results "
                   "file (resumes where it stopped)"),
    "merge": Command("collectkit.cli.merge", "join the results files of a run's shards "
                     "(run --shard I/N) into one"),
    "extract": Command("collectkit.cli.extract", "extract and grade answers; print accuracy, "
                       "pass@k, maj@k"),
    "compare": Command("collectkit.cli.compare", "compare runs: leaderboard, categories, paired "
                       "differences, agreement"),
    "explore": Command("collectkit.cli.explore", "read the samples: filter, sort, one offline HTML "
                       "file"),
    "export": Command("collectkit.cli.export", "export responses as training data"),
    "plan": Command("collectkit.cli.plan", "how many problems × k reach a target interval "
                    "half-width, and their cost"),
}

# A third-party module a subcommand may miss → the extra that installs it.
EXTRAS = {"ipywidgets": "notebooks", "papermill": "notebooks", "ipykernel": "notebooks",
          "datasets": "hub", "huggingface_hub": "hub", "pyarrow": "parquet", "vllm": "vllm"}


def version() -> str:
    from collectkit import __version__

    return __version__


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help for its options)", "",
             "Collect sampled LLM responses on math benchmarks, then grade, compare and read them.",
             "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help     show this help and exit",
              "  -V, --version  print the version and exit"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    first, rest = argv[0], argv[1:]
    if first in ("-V", "--version"):
        print(f"{PROG} {version()}")
        return 0
    command = COMMANDS.get(first)
    if command is None:
        what = "option" if first.startswith("-") else "command"
        return fail(PROG, f"unknown {what} {first!r}{close_command(first, COMMANDS)} "
                    f"(commands: {', '.join(COMMANDS)})")
    try:
        module = importlib.import_module(command.module)
    except ModuleNotFoundError as exc:
        return fail(f"{PROG} {first}", _missing(command.module, exc))
    with program_name(f"{PROG} {first}"):
        return int(module.main(rest) or 0)


def _missing(module: str, exc: ModuleNotFoundError) -> str:
    name = exc.name or ""
    if module == name or module.startswith(name + "."):
        return f"not available in this version of collectkit ({module} is not part of it)"
    top = name.split(".")[0]
    extra = EXTRAS.get(top)
    hint = f"pip install 'collectkit[{extra}]'" if extra else f"pip install {top}"
    return f"needs the package {top!r}, which is not installed: {hint}"
