"""Keeping credentials out of everything the kit prints or writes: the configured key, URL
credentials, anything shaped like a key, the values of secret-taking flags in a command line.
Every text cut short for a message is redacted BEFORE the cut (`shorten`): a key cut in two is
no longer the text a redactor looks for, and its first half would be shown."""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "***"
# Shapes of keys worth hiding even when they are not the configured one (a server's echo).
# Hugging Face tokens: hf_ and 34 letters and digits.
KEY_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{8,}|AIza[A-Za-z0-9_\-]{20,}|hf_[A-Za-z0-9]{30,})"
                        r"|(?<=Bearer )\S+")
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# Flags that take a secret (vLLM's, and serve's own --api-key): their values are hidden in every
# command line shown or stored. vLLM reads `_` as `-` and takes a unique prefix (`--api-k`).
SECRET_FLAGS = ("api-key", "hf-token")


def redact_url(url: str) -> str:
    """The URL without user:password@ and with query values hidden (?key=… is a common place)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return URL_USERINFO.sub(REDACTED + "@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{name}={REDACTED}" for name, _ in parse_qsl(parts.query,
                                                                    keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [value for _, value in parse_qsl(parts.query)]
    if parts.password:
        found.append(parts.password)
    if parts.username:
        found.append(parts.username)
    return found


class Redactor:
    """Replaces the given secrets (and anything shaped like an API key) in text before it is
    written: error rows, manifests, log lines."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Very short values ("EMPTY", "x") would blank out ordinary words; they guard nothing.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6 and s != "EMPTY"},
                              key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return URL_USERINFO.sub(REDACTED + "@", KEY_SHAPES.sub(REDACTED, text))


def shorten(text: object, limit: int = 300, redact: Redactor | None = None) -> str:
    """One line of at most `limit` characters (and "…"), keys hidden BEFORE the cut: a key cut in
    two is no longer the key a redactor looks for, and its first half would be shown."""
    text = " ".join((redact or Redactor())(str(text)).split())
    return text if len(text) <= limit else text[:limit] + "…"


def secret_flag(word: str) -> str | None:
    """The secret-taking flag `word` spells (`--api_key=K`, `-api-key`, `--API-K`), or None."""
    if not word.startswith("-"):
        return None
    name = word.split("=", 1)[0].lstrip("-").replace("_", "-").lower()
    return next((flag for flag in SECRET_FLAGS if len(name) >= 4 and flag.startswith(name)), None)


def redact_argv(words: Iterable[str]) -> list[str]:
    """A command line to show or store: key-shaped text and secret flags' values hidden
    (`--api-key K` and `--api_key=K` alike)."""
    redact, shown, hide_next = Redactor(), [], False
    for word in words:
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
        elif secret_flag(word):
            hide_next = "=" not in word
            shown.append(word.split("=", 1)[0] + ("" if hide_next else "=" + REDACTED))
        else:
            shown.append(redact(word))
    return shown


def redact_command(words: Iterable[str]) -> str:
    return " ".join(redact_argv(words))
