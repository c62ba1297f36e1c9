"""Pushing an export to the Hugging Face Hub: exactly the files the export wrote (never the rest of
the folder: a `.env` beside them stays home), into a dataset repository that is private unless
the user asks for a public one.

The token is HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, else huggingface-cli login); HF_ENDPOINT
points huggingface_hub at another Hub (the tests' local stand-in, tests/hub_server.py). Every
failure is a PushError whose one line has the token and key-shaped text hidden before it is cut
short.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from collectkit.store.redact import Redactor, shorten

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


class PushError(Exception):
    """One line: why the push failed (the local export stands)."""


@dataclass
class Pushed:
    url: str
    private: bool
    files: list[str]

    def line(self) -> str:
        """`pushed 5 files to URL (private): README.md, pairs.parquet, pairs/ (3 files)`."""
        return (f"pushed {len(self.files)} file(s) to {self.url} "
                f"({'private' if self.private else 'public'}): {summary(self.files)}")


def summary(files: Iterable[str]) -> str:
    """The files by top-level entry: a folder is named once with its count."""
    entries: dict[str, int] = {}
    for name in files:
        top = PurePosixPath(name).parts[0]
        key = top + "/" if len(PurePosixPath(name).parts) > 1 else top
        entries[key] = entries.get(key, 0) + 1
    return ", ".join(key if not key.endswith("/") else f"{key} ({count} files)"
                     for key, count in entries.items())


def token() -> str | None:
    return next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)


def push(out: Path, files: list[str], repo: str, public: bool = False) -> Pushed:
    """Upload `files` (paths relative to `out`, as the export wrote them) to the dataset `repo`:
    created private unless `public`; an existing public repository is refused without `public`
    (its visibility is the Hub's to change, not a push's)."""
    redact = Redactor([token()])
    try:
        from huggingface_hub import CommitOperationAdd, HfApi

        api = HfApi(token=token())
        url = api.create_repo(repo, repo_type="dataset", private=not public, exist_ok=True)
        private = bool(api.repo_info(repo, repo_type="dataset").private)
        if not private and not public:
            raise PushError(f"{repo} exists and is public; pass --public to push to it (nothing "
                            "was uploaded)")
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(out / name))
                      for name in files]
        api.create_commit(repo, operations, commit_message="collectkit export",
                          repo_type="dataset")
    except PushError:
        raise
    except Exception as exc:  # offline, no token, refused: one line, the token hidden
        raise PushError(shorten(f"{type(exc).__name__}: {exc}", 300, redact)) from None
    return Pushed(str(url), private, list(files))
