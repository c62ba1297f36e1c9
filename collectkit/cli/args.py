"""The argument parser every collectkit command uses: kebab-case flags, snake_case accepted.

`ArgumentParser` is a drop-in `argparse.ArgumentParser`. Every long option added to it — with a
plain `parser.add_argument("--max_tokens")`, in a group or not — is shown in help as its kebab-case
spelling (`--max-tokens`) and accepted in both spellings; the other spelling is never listed.
`hidden=("--stop",)` registers further spellings of an option that help does not show (an old
name kept working after a rename). A mistyped flag is one line naming the closest flag ("did you
mean --max-tokens?") and exit 2, not the whole usage; `--help` still shows everything.
"""
from __future__ import annotations

import argparse
import contextlib
import contextvars
import difflib
import re
import sys
from typing import Any, Iterable, Iterator, NoReturn

SNAKE_OPTION = re.compile(r"--[a-z0-9]+(?:_[a-z0-9]+)+")
# The program name a dispatcher (`collectkit run`) gives the parser of the command it runs.
_PROG: contextvars.ContextVar[str | None] = contextvars.ContextVar("collectkit_prog", default=None)


@contextlib.contextmanager
def program_name(prog: str) -> Iterator[None]:
    """Within this block, parsers show `prog` (e.g. "collectkit run") as their program name."""
    token = _PROG.set(prog)
    try:
        yield
    finally:
        _PROG.reset(token)


def kebab(option: str) -> str:
    """`--max_tokens` → `--max-tokens`; short options and positionals are left alone."""
    return "--" + option[2:].replace("_", "-") if option.startswith("--") else option


def snake(option: str) -> str:
    return "--" + option[2:].replace("-", "_") if option.startswith("--") else option


class ArgumentParser(argparse.ArgumentParser):
    """argparse with kebab-case flags, snake_case aliases, hidden old names and one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # prefixes of two spellings would be ambiguous
        super().__init__(*args, **kwargs)
        if _PROG.get():
            self.prog = _PROG.get()

    def add_argument(self, *names: str, hidden: Iterable[str] = (), **kwargs: Any):
        action = super().add_argument(*names, **kwargs)
        self._spell_everything()
        for name in hidden:  # accepted, never shown (not in action.option_strings)
            self._register(name, action)
        return action

    # -- spellings
    def _register(self, option: str, action: argparse.Action) -> None:
        for spelling in dict.fromkeys((option, kebab(option), snake(option))):
            owner = self._option_string_actions.get(spelling)
            if owner is None:
                self._option_string_actions[spelling] = action
            elif owner is not action:
                raise ValueError(f"{self.prog}: {spelling} names two different options")

    def _spell_everything(self) -> None:
        """Kebab-case in help; every other spelling accepted (runs before parsing and help, so
        options added in groups or after construction are covered too)."""
        for action in self._actions:
            longs = [kebab(name) for name in action.option_strings]
            for name in list(action.option_strings):
                self._register(name, action)
            action.option_strings = list(dict.fromkeys(longs))

    def parse_known_args(self, args=None, namespace=None):
        self._spell_everything()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._spell_everything()
        return super().format_usage()

    def format_help(self) -> str:
        """Help with every option this parser knows written kebab-case, in texts too."""
        self._spell_everything()
        known = self._option_string_actions
        return SNAKE_OPTION.sub(lambda m: kebab(m[0]) if m[0] in known else m[0],
                                super().format_help())

    # -- errors
    def error(self, message: str) -> NoReturn:
        """One line on stderr and exit 2; an unknown flag gets the closest known one."""
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown != message:
            flag = next((word for word in unknown.split() if word.startswith("-")),
                        unknown.split()[0] if unknown.split() else "")
            message = f"unrecognized argument {flag}{self.suggestion(flag)}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def suggestion(self, flag: str) -> str:
        name = flag.split("=", 1)[0]
        if not name.startswith("--"):
            return ""
        shown = [option for action in self._actions for option in action.option_strings
                 if option.startswith("--")]
        match = difflib.get_close_matches(kebab(name), shown, n=1, cutoff=0.6)
        return f"; did you mean {match[0]}?" if match else ""


def close_command(word: str, commands: Iterable[str]) -> str:
    """"; did you mean X?" for a mistyped subcommand, else ""."""
    match = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.5)
    return f"; did you mean {match[0]}?" if match else ""


def fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
