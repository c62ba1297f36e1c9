"""Where collectkit lives on the web: the ONE place that names the public repository.

The Colab notebook's install cell (`pip install "collectkit @ git+<REPO_URL>"`) and its "Open in
Colab" link are generated from these constants by `notebooks/build_notebooks.py`, and the README
badges are generated from them too (`python -m collectkit.links --update-readme`); tests check that
the committed notebook and README still match. When the repository's address is fixed, change
REPO_URL here, then run `python notebooks/build_notebooks.py` and
`python -m collectkit.links --update-readme`.
"""
from __future__ import annotations

from pathlib import Path

REPO_URL = "https://github.com/collectkit/collectkit"
BRANCH = "main"
COLAB_NOTEBOOK = "colab/collectkit_colab.ipynb"


def pip_spec(repo_url: str = REPO_URL) -> str:
    """The pip requirement that installs the kit straight from its repository."""
    return f"collectkit @ git+{repo_url}"


def colab_url(repo_url: str = REPO_URL, branch: str = BRANCH,
              notebook: str = COLAB_NOTEBOOK) -> str:
    """The 'Open in Colab' address of a notebook in a GitHub repository."""
    prefix = "https://github.com/"
    if not repo_url.startswith(prefix):
        raise ValueError(f"Colab opens notebooks from GitHub; {repo_url!r} is not a GitHub URL")
    path = repo_url[len(prefix):].removesuffix(".git").strip("/")
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/{notebook}"


COLAB_URL = colab_url()
COLAB_BADGE_MARKDOWN = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                        f"({COLAB_URL})")

NOTEBOOKS = ("notebooks/01_serve_llm.ipynb", "notebooks/02_run_inference.ipynb",
             "notebooks/03_extract_answers.ipynb", "notebooks/04_analyze.ipynb")
BADGES_START, BADGES_END = "<!-- badges -->", "<!-- /badges -->"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def readme_badges(repo_url: str = REPO_URL) -> str:
    """The README's "Open in Colab" badges: the Colab notebook, then each pipeline notebook."""
    lines = [f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo_url)}) the whole pipeline "
             "on a Colab GPU"]
    lines += [f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo_url, notebook=path)}) "
              f"`{path}`" for path in NOTEBOOKS]
    return "  \n".join(lines)


def update_readme(readme: Path, repo_url: str = REPO_URL) -> bool:
    """Rewrite the block between the badge markers from REPO_URL; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BADGES_START, 1)
    _, tail = rest.split(BADGES_END, 1)
    updated = f"{head}{BADGES_START}\n{readme_badges(repo_url)}\n{BADGES_END}{tail}"
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--update-readme"]:
        sys.exit("usage: python -m collectkit.links --update-readme")
    changed = update_readme(Path("README.md"))
    print("README.md badges updated" if changed else "README.md badges already match REPO_URL")
