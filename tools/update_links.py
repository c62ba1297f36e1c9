"""Rewrite what is generated from collectkit/links.py after REPO_URL changes:

    python tools/update_links.py

- README.md: the block of "Open in Colab" badges between <!-- badges --> and <!-- /badges -->,
  and the address of its `pip install "collectkit @ git+…"` line;
- colab/collectkit_colab.ipynb: its "Open in Colab" badge and the `repo_url` parameter default;
- notebooks/*.ipynb: the `repo_url` their Colab install cell installs from;
- pyproject.toml: the project URLs.

tests/test_links.py fails while either is out of date; nothing else in those files is touched.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectkit.store import links  # noqa: E402

BADGE_LINE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
PIP_SPEC = re.compile(r'"collectkit @ git\+[^"]*"')  # the README's pip install line
REPO_URL_PARAMETER = re.compile(r'^(repo_url: str = )"[^"]*"', re.MULTILINE)


def update_readme(readme: Path, repo_url: str = links.REPO_URL) -> bool:
    """Rewrite the block between the badge markers from REPO_URL; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(links.BADGES_START, 1)
    _, tail = rest.split(links.BADGES_END, 1)
    updated = (f"{head}{links.BADGES_START}\n{links.readme_badges(repo_url)}\n"
               f"{links.BADGES_END}{tail}")
    updated = PIP_SPEC.sub(lambda _match: f'"{links.pip_spec(repo_url)}"', updated)
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return updated != text


def update_colab_notebook(path: Path, repo_url: str = links.REPO_URL) -> bool:
    """Point the Colab notebook's badge and `repo_url` default at REPO_URL; True if it changed."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    badge = (f"[![Open In Colab]({links.BADGE_IMAGE})]"
             f"({links.colab_url(repo_url)})")
    for cell in nb.cells:
        source = BADGE_LINE.sub(lambda _match: badge, cell.source)
        if cell.cell_type == "code":
            source = REPO_URL_PARAMETER.sub(lambda m: f'{m.group(1)}"{repo_url}"', source)
        cell.source = source
    updated = nbformat.writes(nb) + "\n"
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


PROJECT_URL = re.compile(r'^(\w+ = )"https://[^"/]+/[^"/]+/[^"/#]+([^"]*)"$', re.MULTILINE)


def update_pyproject(path: Path, repo_url: str = links.REPO_URL) -> bool:
    """Point the [project.urls] entries at REPO_URL; True if it changed."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split("[project.urls]\n", 1)
    urls, tail = rest.split("\n\n", 1)
    urls = PROJECT_URL.sub(lambda m: f'{m.group(1)}"{repo_url}{m.group(2)}"', urls)
    updated = f"{head}[project.urls]\n{urls}\n\n{tail}"
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


def main() -> int:
    targets = [(ROOT / "README.md", update_readme), (ROOT / "pyproject.toml", update_pyproject),
               (ROOT / links.COLAB_NOTEBOOK, update_colab_notebook)]
    targets += [(ROOT / notebook, update_colab_notebook) for notebook in links.NOTEBOOKS]
    changed = [str(path.relative_to(ROOT)) for path, update in targets if update(path)]
    print("updated: " + ", ".join(changed) if changed else
          f"README.md, pyproject.toml and the notebooks already match {links.REPO_URL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
