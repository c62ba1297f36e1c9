"""The warning a run and `collectkit extract` print when many responses hit max_tokens (kept
apart from the client, so extract never loads the openai SDK)."""
from __future__ import annotations

from collectkit.tasks.registry import label

WARN_SHARE = 0.10  # warn when at least this share of a benchmark's responses hit max_tokens


def truncation_warnings(counts: dict[str, tuple[int, int]], max_tokens: int | None,
                        share: float = WARN_SHARE) -> list[str]:
    """One line per benchmark where at least `share` of responses hit max_tokens.
    `counts`: {dataset: (responses that stopped on max_tokens, responses)}."""
    lines = []
    for dataset, (cut, total) in sorted(counts.items()):
        if total and cut / total >= share:
            limit = f"--max_tokens {max_tokens}" if max_tokens else "max_tokens"
            lines.append(f"{100 * cut / total:.0f} % of {label(str(dataset))} responses hit "
                         f"{limit} ({cut} of {total}): raise it")
    return lines
