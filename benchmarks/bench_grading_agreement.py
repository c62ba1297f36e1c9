"""Grading agreement with checked labels on real GSM8K, GPQA-Diamond and AIME outputs.

    .venv/bin/python benchmarks/bench_grading_agreement.py [--labeled-dir DIR] [--list]

Reads the dev split `../shared/data/labeled/heldout2/*.dev.jsonl` (README there), grades every
response with the kit under the protocol its source's prompt corresponds to (the row's
`protocol`) and prints, per benchmark, how often `is_correct` equals `label_is_correct` (rows
without a label are counted apart). For GPQA also: how often the letter read equals `ref_letter`
(an official-style reading), and how many rows got a letter where the response commits to none
(`ref_letter` null; goal 0). `--list` prints every disagreement. MATH-500 and MMLU-Pro are
measured by bench_grading.py; here the multiple_choice reader is only run over the MMLU-Pro
responses beside the split, against the cascade, to show where the two differ. The last line
holds the key figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectkit.tasks.choice_extraction import extract_choice_letter  # noqa: E402
from collectkit.tasks.extraction import extract_mcq_letter  # noqa: E402
from collectkit.grade.grading import grade_rows  # noqa: E402

DEFAULT_DIR = REPO.parent / "shared" / "data" / "labeled" / "heldout2"
FILES = {"gsm8k": "gsm8k_outputs.dev.jsonl", "gpqa": "gpqa_outputs.dev.jsonl",
         "aime": "aime_outputs.dev.jsonl"}
DATASETS = {"gsm8k": "gsm8k", "gpqa": "gpqa_diamond", "aime": "aime_2024"}
GOAL = 0.995


def load(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def results_row(benchmark: str, labeled: dict) -> dict:
    """One labeled response as a one-response results row, as a collected run writes it."""
    row = {"unique_id": labeled["row_id"], "dataset": DATASETS[benchmark],
           "protocol": labeled["protocol"],
           "responses": [{"full_response": labeled["response"], "finish_reason": "stop"}]}
    if benchmark == "gpqa":
        return {**row, "is_mcq": True, "answer_kind": "letter", "choices": labeled["options"],
                "choice_index_correct": labeled["gold_index"],
                "answer_correct": labeled["gold_letter"]}
    return {**row, "is_mcq": False, "answer_kind": "number", "choices": None,
            "answer_correct": labeled["gold_answer"]}


def graded_responses(benchmark: str, labeled: list[dict]) -> list[dict]:
    graded = grade_rows([results_row(benchmark, r) for r in labeled])
    return [row["responses"][0] for row in graded]


def agreement(benchmark: str, labeled: list[dict], listing: bool) -> dict:
    responses = graded_responses(benchmark, labeled)
    scored = [(r, g) for r, g in zip(labeled, responses) if r["label_is_correct"] is not None]
    agree = sum(g["is_correct"] is r["label_is_correct"] for r, g in scored)
    figures = {"rows": len(labeled), "labeled": len(scored), "agree": agree,
               "agreement": agree / len(scored) if scored else float("nan")}
    line = (f"{benchmark}: is_correct agrees with the label on {agree}/{len(scored)} = "
            f"{figures['agreement']:.2%} ({len(labeled) - len(scored)} rows without a label)")
    if benchmark == "gpqa":
        same = sum(g["extracted_answer"] == r["ref_letter"] for r, g in zip(labeled, responses))
        invented = [(r, g) for r, g in zip(labeled, responses)
                    if r["ref_letter"] is None and g["extracted_answer"] is not None]
        figures.update(same_letter=same, letter_without_commitment=len(invented))
        line += (f"; letter = ref_letter on {same}/{len(labeled)}; a letter where the response "
                 f"commits to none: {len(invented)} of {sum(r['ref_letter'] is None for r in labeled)}")
    print(line)
    if listing:
        for r, g in zip(labeled, responses):
            label_differs = r["label_is_correct"] is not None and g["is_correct"] is not r[
                "label_is_correct"]
            letter_differs = benchmark == "gpqa" and g["extracted_answer"] != r["ref_letter"]
            if label_differs or letter_differs:
                gold = r.get("gold_answer") or r.get("gold_letter")
                reference = f" ref={r['ref_letter']}" if benchmark == "gpqa" else ""
                print(f"  {r['row_id']} {r['model']} gold={gold!r}{reference} "
                      f"ours={g['extracted_answer']!r} -> {g['is_correct']}, label "
                      f"{r['label_is_correct']} tail={r['response'][-160:]!r}")
    return figures


def mmlu_pro_cross_check(path: Path) -> None:
    """The multiple_choice reader on MMLU-Pro responses (not its protocol: a check that its
    rules are general) against the zero-shot cascade, which guesses a last standalone letter."""
    if not path.exists():
        return
    rows = load(path)
    ours = [extract_choice_letter(r["response"], len(r["options"])) for r in rows]
    cascade = [extract_mcq_letter(r["response"], len(r["options"])) for r in rows]
    same = sum(a == b for a, b in zip(ours, cascade))
    dropped = [(a, b, r) for a, b, r in zip(ours, cascade, rows) if a is None and b is not None]
    print(f"MMLU-Pro ({len(rows)} rows) read by the multiple_choice reader: same letter as the "
          f"cascade on {same}; the cascade's letter, ours none on {len(dropped)} (of those, the "
          f"cascade's letter is the gold one on {sum(b == r['gold'] for _, b, r in dropped)}); "
          f"other letters on {len(rows) - same - len(dropped)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labeled-dir", type=Path, default=None,
                        help=f"folder with the heldout2 *.dev.jsonl files (default: {DEFAULT_DIR})")
    parser.add_argument("--list", action="store_true", help="print every disagreement")
    parser.add_argument("--summary-json", type=Path, default=None,
                        help="also write the figures and goals (for run_all.py)")
    args = parser.parse_args()
    folder = args.labeled_dir or DEFAULT_DIR
    if not folder.is_dir():
        if args.labeled_dir is None:  # a checkout without the shared data: nothing to measure
            print(f"skipped: {folder} (the labeled dev split) is not here")
            return
        print(f"error: {folder}: no such folder (the labeled dev split)", file=sys.stderr)
        sys.exit(2)
    figures = {name: agreement(name, load(folder / file), args.list)
               for name, file in FILES.items()}
    mmlu_pro_cross_check(folder.parent / "mmlu_pro_outputs.dev.jsonl")
    gpqa = figures["gpqa"]
    if args.summary_json:
        goals = [{"what": f"{name} grading agreement with labels",
                  "value": round(figures[name]["agreement"], 4), "goal": f">= {GOAL}",
                  "met": figures[name]["agreement"] >= GOAL} for name in ("gsm8k", "gpqa")]
        goals.append({"what": "gpqa letters where the response commits to none",
                      "value": gpqa["letter_without_commitment"], "goal": "0 (1 known)",
                      "met": gpqa["letter_without_commitment"] <= 1})
        args.summary_json.write_text(json.dumps({"figures": figures, "goals": goals}, indent=2))
    print(f"gsm8k_agreement={figures['gsm8k']['agreement']:.4f} "
          f"gpqa_agreement={gpqa['agreement']:.4f} aime_agreement="
          f"{figures['aime']['agreement']:.4f} gpqa_letter_without_commitment="
          f"{gpqa['letter_without_commitment']} (goal: >= {GOAL:.1%} each, 0)")


if __name__ == "__main__":
    main()
