"""Strip the repository's notebooks back to their committed form: no outputs, no execution
counts, no metadata noise (widget state, timings, papermill records, the kernel's version).

    python tools/strip_notebooks.py           # strip notebooks/*.ipynb and colab/*.ipynb in place
    python tools/strip_notebooks.py --check   # exit 1 naming the notebooks that are not stripped
    python tools/strip_notebooks.py FILE...   # only these

The committed .ipynb files are the source: edit and run them in Jupyter, then strip before
committing (`make strip-notebooks`); tests/test_notebooks.py checks the committed ones are stripped.
Kept: cell sources, ids and tags (papermill's `parameters`), the kernelspec (normalized to the
`python3` kernel papermill runs) and Colab's own notebook metadata.

Why the kernelspec and language_info are written in full: the moment its kernel starts,
JupyterLab writes the kernel's spec (display name "Python 3 (ipykernel)") and the kernel's
language_info (with the Python version) into the notebook, and marks it modified unless both are
already equal to what is there. So the committed form holds exactly what ipykernel's python3
kernel reports; the version is the one the notebook already records (the project venv's Python),
else this interpreter's. A kernel on another Python version still changes that one field.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOBS = ("notebooks/*.ipynb", "colab/*.ipynb")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# ipykernel's language_info, as the kernel reports it (its "version" is added per notebook).
LANGUAGE_INFO = {"name": "python", "mimetype": "text/x-python",
                 "codemirror_mode": {"name": "ipython", "version": 3},
                 "pygments_lexer": "ipython3", "nbconvert_exporter": "python",
                 "file_extension": ".py"}
KEPT_NOTEBOOK_METADATA = ("accelerator", "colab")  # Colab reads these (GPU runtime, its name)
KEPT_CELL_METADATA = ("tags",)


def repository_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook the repository ships, new ones included: notebooks/ in their numbered
    order, then colab/."""
    return [path for pattern in NOTEBOOK_GLOBS for path in sorted(root.glob(pattern))]


def stripped(text: str) -> str:
    """The committed form of a notebook's JSON text."""
    nb = nbformat.reads(text, as_version=4)
    metadata = {key: nb.metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in nb.metadata}
    metadata["kernelspec"] = dict(KERNELSPEC)
    version = str(nb.metadata.get("language_info", {}).get("version") or "")
    metadata["language_info"] = {**LANGUAGE_INFO,
                                 "version": version or platform.python_version()}
    nb.metadata = nbformat.NotebookNode(metadata)
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode(
            {key: cell.metadata[key] for key in KEPT_CELL_METADATA if cell.metadata.get(key)})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks (default: notebooks/*.ipynb and colab/*.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not stripped")
    args = parser.parse_args(argv)
    unstripped = []
    for path in args.paths or repository_notebooks():
        text = path.read_text(encoding="utf-8")
        clean = stripped(text)
        if clean == text:
            continue
        unstripped.append(str(path))
        if not args.check:
            path.write_text(clean, encoding="utf-8")
    if args.check:
        print(f"{len(unstripped)} notebook(s) not stripped" +
              (": " + ", ".join(unstripped) + "; run make strip-notebooks" if unstripped else ""))
        return 1 if unstripped else 0
    print(f"stripped {len(unstripped)} notebook(s)" +
          (": " + ", ".join(unstripped) if unstripped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
