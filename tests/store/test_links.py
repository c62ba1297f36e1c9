"""The repository address lives in one place (collectkit/links.py); the README badges and the Colab
notebook's badge and install address must match it (tools/update_links.py rewrites them)."""
import shutil
import sys
from pathlib import Path

import nbformat

from collectkit.store import links

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "tools"))
import update_links  # noqa: E402


def test_readme_badges_match_repo_url():
    text = README.read_text(encoding="utf-8")
    assert links.readme_badges() in text
    assert text.count("colab.research.google.com/github/") == 1 + len(links.NOTEBOOKS)


def test_every_repository_notebook_has_a_badge():
    shipped = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(links.NOTEBOOKS) == shipped


def test_colab_notebook_badge_and_install_address_match_repo_url():
    nb = nbformat.read(ROOT / links.COLAB_NOTEBOOK, as_version=4)
    assert links.COLAB_BADGE_MARKDOWN in nb.cells[0].source
    parameters = next(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert f'repo_url: str = "{links.REPO_URL}"' in parameters
    everything = "\n".join(cell.source for cell in nb.cells)
    assert everything.count("colab.research.google.com/github/") == 1


def test_update_readme_rewrites_only_the_badge_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{links.BADGES_START}\nold\n{links.BADGES_END}\nrest\n")
    assert update_links.update_readme(readme, "https://github.com/someone/fork")
    text = readme.read_text()
    assert "github/someone/fork/blob/main/colab/collectkit_colab.ipynb" in text
    assert "old" not in text and text.startswith("# x\n") and text.endswith("rest\n")
    assert not update_links.update_readme(readme, "https://github.com/someone/fork")


def test_update_colab_notebook_changes_only_badge_and_repo_url(tmp_path):
    copy = tmp_path / "colab.ipynb"
    shutil.copy(ROOT / links.COLAB_NOTEBOOK, copy)
    fork = "https://github.com/someone/fork"
    assert update_links.update_colab_notebook(copy, fork)
    before = nbformat.read(ROOT / links.COLAB_NOTEBOOK, as_version=4)
    after = nbformat.read(copy, as_version=4)
    changed = [i for i, (old, new) in enumerate(zip(before.cells, after.cells))
               if old.source != new.source]
    assert changed == [0, 1]
    assert links.colab_url(fork) in after.cells[0].source
    assert f'repo_url: str = "{fork}"' in after.cells[1].source
    assert not update_links.update_colab_notebook(copy, fork)
    assert update_links.update_colab_notebook(copy)  # and back
    assert copy.read_text() == (ROOT / links.COLAB_NOTEBOOK).read_text()
