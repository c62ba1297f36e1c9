"""Training-data shapes built from processed (graded) rows, as pyarrow Tables.

Every row of every shape keeps the problem's `unique_id`, `dataset`, `category`, `level`, the
`model`, the `protocol` and the `sampling` signature (a JSON string) it was collected under.

| shape | one row per | rule |
|---|---|---|
| responses | response | every response with all its fields (logprobs as mean_logprob and n_tokens) |
| sft | distinct correct response of a problem | correct responses; the same text (whitespace-normalized) twice in one problem is kept once |
| best_of_k | problem with a correct response | the correct response with the highest mean token logprob when logprobs exist, else the shortest; ties: the first |
| pairs | min(#correct, #wrong) per problem | the i-th correct response (in response order) with the i-th wrong one; wrong = graded incorrect, unparsed included; each response used at most once |
| verifier | response | the problem, the response and its label (is_correct) |
| difficulty | problem | k, correct, pass rate, unparsed, and the answer groups (answer, count, correct) |

`prompt` (sft, best_of_k, pairs) is the chat messages the problem was asked with, rebuilt from
the recorded protocol (role/content structs); `completion`, `chosen` and `rejected` are the
answer as the assistant turn that follows ([{role: assistant, content}]): the conversational
prompt-completion and preference formats TRL's SFT and DPO trainers read.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

import pyarrow as pa

from collectkit.tasks import protocols
from collectkit.store.logprobs import mean_logprob
from collectkit.tasks.base import Problem

SHAPES = ("responses", "sft", "best_of_k", "pairs", "verifier", "difficulty")


class _Context:
    """Per-problem fields shared by every shape, computed once per row."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.common = {"unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
                       "category": row.get("category"), "level": row.get("level"),
                       "model": row.get("model"), "protocol": protocols.recorded_name(row),
                       "sampling": json.dumps(row.get("sampling"), sort_keys=True,
                                              ensure_ascii=False)}
        self._prompt: list[dict[str, str]] | None = None

    @property
    def prompt(self) -> list[dict[str, str]]:
        if self._prompt is None:
            self._prompt = protocols.for_row(self.row).build_messages(_problem(self.row))
        return self._prompt


def _problem(row: dict[str, Any]) -> Problem:
    choices = row.get("choices")
    return Problem(str(row.get("unique_id")), str(row.get("dataset")), row.get("problem") or "",
                   tuple(choices) if choices is not None else None,
                   row.get("choice_index_correct"), row.get("explanation_correct"),
                   str(row.get("answer_correct")), str(row.get("category")), row.get("level"),
                   row.get("subject"), row.get("answer_kind") or "")


def _responses(row: dict[str, Any]) -> list[dict[str, Any]]:
    responses = row.get("responses") or []
    for response in responses:
        if "is_correct" not in response:
            raise ValueError(f"{row.get('unique_id')}: responses are not graded; export reads "
                             "processed files (python -m collectkit.answer_extraction)")
    return responses


def _shape_responses(ctx: _Context, out: list[dict]) -> None:
    for index, r in enumerate(_responses(ctx.row)):
        packed = r.get("logprobs")
        out.append({**ctx.common, "problem": ctx.row.get("problem"),
                    "choices": ctx.row.get("choices"),
                    "answer_correct": str(ctx.row.get("answer_correct")),
                    "response_index": index, "full_response": r.get("full_response"),
                    "reasoning_content": r.get("reasoning_content"),
                    "finish_reason": r.get("finish_reason"),
                    "extracted_answer": r.get("extracted_answer"),
                    "answer_group": r.get("answer_group"), "is_correct": bool(r["is_correct"]),
                    "completion_tokens": (r.get("usage") or {}).get("completion_tokens"),
                    "n_tokens": (packed or {}).get("n_tokens"),
                    "mean_logprob": mean_logprob(packed) if packed else None})


def _said(response: dict[str, Any]) -> list[dict[str, str]]:
    """The response as the assistant turn that follows `prompt` (TRL's conversational format)."""
    return [{"role": "assistant", "content": response.get("full_response") or ""}]


def _normalized(text: str | None) -> str:
    return " ".join((text or "").split())


def _shape_sft(ctx: _Context, out: list[dict]) -> None:
    seen: set[str] = set()
    for index, r in enumerate(_responses(ctx.row)):
        key = _normalized(r.get("full_response"))
        if not r["is_correct"] or key in seen:
            continue
        seen.add(key)
        out.append({**ctx.common, "prompt": ctx.prompt, "completion": _said(r),
                    "reasoning_content": r.get("reasoning_content"), "response_index": index,
                    "extracted_answer": r.get("extracted_answer")})


def _shape_best_of_k(ctx: _Context, out: list[dict]) -> None:
    responses = _responses(ctx.row)
    right = [(i, r) for i, r in enumerate(responses) if r["is_correct"]]
    if not right:
        return
    with_logprobs = all(r.get("logprobs") for _, r in right)
    if with_logprobs:
        index, best = max(right, key=lambda pair: (mean_logprob(pair[1]["logprobs"]), -pair[0]))
    else:
        index, best = min(right, key=lambda pair: (len(pair[1].get("full_response") or ""),
                                                   pair[0]))
    out.append({**ctx.common, "prompt": ctx.prompt, "completion": _said(best),
                "reasoning_content": best.get("reasoning_content"), "response_index": index,
                "k": len(responses), "n_correct": len(right),
                "pass_rate": len(right) / len(responses),
                "selected_by": "mean_logprob" if with_logprobs else "shortest"})


def _shape_pairs(ctx: _Context, out: list[dict]) -> None:
    responses = _responses(ctx.row)
    right = [(i, r) for i, r in enumerate(responses) if r["is_correct"]]
    wrong = [(i, r) for i, r in enumerate(responses) if not r["is_correct"]]
    for (ci, chosen), (ri, rejected) in zip(right, wrong):
        out.append({**ctx.common, "prompt": ctx.prompt,
                    "chosen": _said(chosen), "rejected": _said(rejected),
                    "chosen_answer": chosen.get("extracted_answer"),
                    "rejected_answer": rejected.get("extracted_answer"),
                    "chosen_index": ci, "rejected_index": ri,
                    "answer_correct": str(ctx.row.get("answer_correct"))})


def _shape_verifier(ctx: _Context, out: list[dict]) -> None:
    for index, r in enumerate(_responses(ctx.row)):
        out.append({**ctx.common, "problem": ctx.row.get("problem"),
                    "choices": ctx.row.get("choices"), "response_index": index,
                    "response": r.get("full_response"), "extracted_answer": r.get("extracted_answer"),
                    "finish_reason": r.get("finish_reason"), "label": bool(r["is_correct"])})


def _shape_difficulty(ctx: _Context, out: list[dict]) -> None:
    responses = _responses(ctx.row)
    groups: dict[Any, dict[str, Any]] = {}
    for r in responses:
        answer = r.get("extracted_answer")
        if answer is None:
            continue
        key = r.get("answer_group") if r.get("answer_group") is not None else answer
        group = groups.setdefault(key, {"answer": str(answer), "count": 0,
                                        "correct": bool(r["is_correct"])})
        group["count"] += 1
    correct = sum(bool(r["is_correct"]) for r in responses)
    out.append({**ctx.common, "problem": ctx.row.get("problem"),
                "answer_correct": str(ctx.row.get("answer_correct")), "k": len(responses),
                "n_correct": correct, "pass_rate": correct / len(responses) if responses else None,
                "n_unparsed": sum(r.get("extracted_answer") is None for r in responses),
                "answer_groups": sorted(groups.values(), key=lambda g: -g["count"])})


BUILDERS: dict[str, Callable[[_Context, list[dict]], None]] = {
    "responses": _shape_responses, "sft": _shape_sft, "best_of_k": _shape_best_of_k,
    "pairs": _shape_pairs, "verifier": _shape_verifier, "difficulty": _shape_difficulty}


def records(row: dict[str, Any], shapes: Iterable[str]) -> dict[str, list[dict]]:
    """shape → the records of one processed row."""
    ctx = _Context(row)
    built: dict[str, list[dict]] = {}
    for shape in shapes:
        BUILDERS[shape](ctx, built.setdefault(shape, []))
    return built


def build(rows: Iterable[dict[str, Any]], shapes: Iterable[str]) -> dict[str, pa.Table]:
    """shape → pyarrow Table, in memory (the export writes chunks instead: writers.py)."""
    shapes = list(shapes)
    collected: dict[str, list[dict]] = {shape: [] for shape in shapes}
    for row in rows:
        for shape, built in records(row, shapes).items():
            collected[shape].extend(built)
    return {shape: table(shape, collected[shape]) if collected[shape] else empty()
            for shape in shapes}


def table(shape: str, records: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    """The shape's table (of `schema` when given); a ValueError naming the field when one column
    would mix types (rows from another tool: `extracted_answer` 2 in one response, "b" in the
    next)."""
    try:
        return pa.Table.from_pylist(records, schema=schema)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        for name in dict.fromkeys(key for record in records for key in record):
            try:
                pa.array([record.get(name) for record in records],
                         schema.field(name).type if schema else None)
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                kinds = sorted({type(record.get(name)).__name__ for record in records
                                if record.get(name) is not None})
                raise ValueError(f"shape {shape}: field {name!r} holds values of different "
                                 f"types ({', '.join(kinds)}), which one Parquet column cannot "
                                 "hold") from None
        raise ValueError(f"shape {shape}: {' '.join(str(exc).split())}") from None


def empty() -> pa.Table:
    """A shape without rows (e.g. no pairs): the common columns, zero rows."""
    return pa.table({name: pa.array([], pa.string()) for name in
                     ("unique_id", "dataset", "category", "model", "protocol", "sampling")})
