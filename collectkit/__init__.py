"""collectkit: collect sampled LLM responses on math benchmarks, then grade and analyze them.

The public API, in the order of a run (keyword arguments are the CLI's flags)::

    import collectkit

    server = collectkit.serve("smollm2-135m-instruct", port=8000)    # or a vLLM model id
    run = await collectkit.collect(dataset="math500", num_problems=20, k_responses=4)
    graded = collectkit.grade(run)                    # X.processed.jsonl beside the results
    graded.accuracy(by="category"); graded.plot("pass_maj_at_k"); graded.explore()
    collectkit.load("runs/x.processed.jsonl").export("training_data")
    collectkit.compare(["a.processed.jsonl", "b.processed.jsonl"]).leaderboard()
    collectkit.merge(["runs/x_shard-0-of-2.jsonl", "runs/x_shard-1-of-2.jsonl"])  # → runs/x.jsonl

Names are imported on first use, so `import collectkit` (and `collectkit --version`) stays quick.
"""
import sys
import types
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("collectkit")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_API = {
    "serve": "collectkit.workflow.steps", "Server": "collectkit.workflow.steps",
    "settings": "collectkit.workflow.steps", "collect": "collectkit.workflow.steps",
    "grade": "collectkit.workflow.steps", "Interrupted": "collectkit.workflow.steps",
    "results_file": "collectkit.workflow.steps", "merge": "collectkit.workflow.steps",
    "load": "collectkit.workflow.run", "Run": "collectkit.workflow.run",
    "FIGURES": "collectkit.workflow.run",
    "compare": "collectkit.workflow.comparison", "Comparison": "collectkit.workflow.comparison",
    "colab": "collectkit.notebook.colab",
}
__all__ = ["__version__", *_API]




class _PublicAPI(types.ModuleType):
    """The verbs `serve`, `collect`, `grade` and `compare` share their names with subpackages
    (and the `compare` entry point); importing one must not replace the verb on the package."""

    def __setattr__(self, name: str, value) -> None:
        if name in _API and name != "colab" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PublicAPI


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'collectkit' has no attribute {name!r}")
    module = import_module(_API[name])
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


del PackageNotFoundError, _version
