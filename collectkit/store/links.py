"""Where collectkit lives on the web: the ONE place that names the public repository.

The README's "Open in Colab" badges, the Colab notebook's badge and its install cell's `repo_url`
all come from these constants: `python tools/update_links.py` rewrites them after REPO_URL
changes, and tests/test_links.py checks that the committed README and notebook still match.
"""
from __future__ import annotations

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
             "notebooks/03_extract_answers.ipynb", "notebooks/04_analyze.ipynb",
             "notebooks/05_compare.ipynb")
BADGES_START, BADGES_END = "<!-- badges -->", "<!-- /badges -->"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def readme_badges(repo_url: str = REPO_URL) -> str:
    """The README's "Open in Colab" badges: the Colab notebook, then each pipeline notebook."""
    lines = [f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo_url)}) the whole pipeline "
             "on a Colab GPU"]
    lines += [f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo_url, notebook=path)}) "
              f"`{path}`" for path in NOTEBOOKS]
    return "  \n".join(lines)
