"""The repository address lives in one place; the README badges are generated from it."""
from pathlib import Path

from collectkit import links

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_badges_match_repo_url():
    text = README.read_text(encoding="utf-8")
    assert links.readme_badges() in text
    assert text.count("colab.research.google.com/github/") == 1 + len(links.NOTEBOOKS)


def test_update_readme_rewrites_only_the_badge_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{links.BADGES_START}\nold\n{links.BADGES_END}\nrest\n")
    assert links.update_readme(readme, "https://github.com/someone/fork")
    text = readme.read_text()
    assert "github/someone/fork/blob/main/colab/collectkit_colab.ipynb" in text
    assert "old" not in text and text.startswith("# x\n") and text.endswith("rest\n")
    assert not links.update_readme(readme, "https://github.com/someone/fork")
