"""collectkit: collect sampled LLM responses on math benchmarks, then grade and analyze them."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("collectkit")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

del PackageNotFoundError, _version
