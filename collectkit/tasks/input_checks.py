"""Checks of values a user types that are easy to get wrong: the NAME of the key's variable
(not the key), and an API base URL (a scheme, and not the route). Each returns what is wrong,
in one line, or None; config.Settings raises it."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from collectkit.store.redact import redact_url


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


KEY_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def variable_name(name: str) -> bool:
    """A name an environment variable can have, not shaped like an API key (sk-…, AIza…, or a
    long run of mixed-case letters and digits without an underscore)."""
    if not KEY_VARIABLE_NAME.fullmatch(name or ""):
        return False
    keyish = (name.startswith(("sk_", "AIza", "xai_", "gsk_")) or
              (len(name) >= 24 and "_" not in name and any(c.isdigit() for c in name)
               and any(c.islower() for c in name) and any(c.isupper() for c in name)))
    return not keyish


def base_url_problem(url: str) -> str | None:
    """What is wrong with an API base URL, with the URL meant; None for an http(s) base URL."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        guess = "http://" + url.split("://", 1)[-1]
        return (f"api_base {shown} is not an http:// or https:// URL; did you mean "
                f"{redact_url(guess)}?")
    for route in ("/chat/completions", "/completions"):
        if parts.path.rstrip("/").endswith(route):
            base = url[: url.rfind(route)]
            return (f"api_base {shown} ends with {route}: give the API's base URL, "
                    f"{redact_url(base)} (the client adds {route} itself)")
    return None
