"""Grading agreement with reference labels, and grading throughput.

    .venv/bin/python benchmarks/bench_grading.py [--labeled-dir DIR] [--workers N]

Reads the labeled model outputs (the copies in tests/data by default, or the shared
`data/labeled/*.dev.jsonl`), and prints:
- MMLU-Pro, `mmlu_pro_official` protocol: our letter vs the letter each official run recorded
  (rows where it recorded one; the official scorer's random guesses for responses naming no
  letter are counted apart), and vs the newest official cascade re-run verbatim on every row;
- MMLU-Pro, `mmlu_pro_zero_shot` protocol (letters limited to the options): vs the cascade re-run
  verbatim, and vs the recorded letters with every difference explained or listed;
- MATH: is_correct vs label_is_correct for the qwen2.5-math rows and the zeroeval rows (rows
  without a label are counted apart), disagreements listed;
- throughput in responses/s: MATH cold (empty cache, pool start included) and warm, MMLU-Pro.
The last line holds the key ratios.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectkit.grade.grading import clear_grading_cache, grade_rows  # noqa: E402

COPIES = {"math": REPO / "tests/data/math_labeled.jsonl.gz",
          "mmlu_pro": REPO / "tests/data/mmlu_pro_labeled.jsonl.gz"}
SHARED_NAMES = {"math": "math_outputs.dev.jsonl", "mmlu_pro": "mmlu_pro_outputs.dev.jsonl"}


def official_cascade(text: str, last_letter_fallback: bool = True) -> str | None:
    """TIGER-AI-Lab/MMLU-Pro's extract_answer / extract_again / extract_final, verbatim."""
    match = re.search(r"answer is \(?([A-J])\)?", text)
    if match:
        return match.group(1)
    match = re.search(r".*[aA]nswer:\s*([A-J])", text)
    if match:
        return match.group(1)
    if last_letter_fallback:
        match = re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)
        if match:
            return match.group(0)
    return None


def load(kind: str, labeled_dir: Path | None) -> list[dict]:
    path = labeled_dir / SHARED_NAMES[kind] if labeled_dir else COPIES[kind]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def mcq_results_rows(labeled: list[dict], protocol: str = "mmlu_pro_zero_shot") -> list[dict]:
    return [{"unique_id": f"mmlu_pro/{r['question_id']}/{r['model']}", "dataset": "mmlu_pro",
             "is_mcq": True, "choices": r["options"], "choice_index_correct": r["gold_index"],
             "answer_correct": r["gold"], "category": r["category"], "protocol": protocol,
             "responses": [{"full_response": r["response"], "finish_reason": "stop"}]}
            for r in labeled]


def math_results_rows(labeled: list[dict]) -> tuple[list[dict], list[tuple[int, int]]]:
    """Responses to the same problem grouped into one results row, as a k-sample run would be;
    also where each labeled row went: (results row, response index)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, r in enumerate(labeled):
        groups[(r["source"], r["problem_id"])].append(index)
    rows, where = [], [(0, 0)] * len(labeled)
    for members in groups.values():
        first = labeled[members[0]]
        for position, index in enumerate(members):
            where[index] = (len(rows), position)
        # ZeroEval asked for JSON {"reasoning", "answer"}: the json_answer protocol.
        protocol = "json_answer" if first["source"].startswith("zeroeval") else "boxed"
        rows.append({"unique_id": first["problem_id"], "dataset": "math500", "is_mcq": False,
                     "protocol": protocol,
                     "answer_correct": first["gold_answer"], "category": first["subject"],
                     "level": first["level"],
                     "responses": [{"full_response": labeled[i]["response"], "finish_reason": None}
                                   for i in members]})
    return rows, where


def bench_official(labeled: list[dict]) -> float:
    """Agreement of the official protocol with the letters the official runs recorded."""
    graded = grade_rows(mcq_results_rows(labeled, "mmlu_pro_official"))
    ours = [row["responses"][0]["extracted_answer"] for row in graded]
    verbatim = sum(o == official_cascade(r["response"].replace("**", ""))
                   for o, r in zip(ours, labeled))
    recorded = [(o, r) for o, r in zip(ours, labeled) if r["official_pred"] is not None]
    # A recorded letter that run's own cascade cannot find is the scorer's random guess.
    guesses = [(o, r) for o, r in recorded if o != r["official_pred"] and official_cascade(
        r["response"].replace("**", ""), r["run_date"] >= "2026") is None]
    scored = [(o, r) for o, r in recorded if (o, r) not in guesses]
    agree = sum(o == r["official_pred"] for o, r in scored)
    for o, r in scored:
        if o != r["official_pred"]:
            print(f"  official protocol differs: {r['model']} q{r['question_id']} ours={o} "
                  f"recorded={r['official_pred']} tail={r['response'][-80:]!r}")
    print(f"MMLU-Pro, mmlu_pro_official ({len(labeled)} rows): {len(recorded)} with a recorded "
          f"letter, of which {len(guesses)} are the official scorer's random guesses (its own "
          f"cascade finds no letter; ours reports {sum(o is None for o, _ in guesses)} of them "
          f"unparsed); same letter on {agree}/{len(scored)} = {agree / len(scored):.4%} of the "
          f"rest ({sum(o == r['official_pred'] for o, r in recorded)}/{len(recorded)} counting the "
          f"guesses); same as the newest cascade re-run verbatim on {verbatim}/{len(labeled)} rows")
    return agree / len(scored)


def bench_mcq(labeled: list[dict]) -> float:
    graded = grade_rows(mcq_results_rows(labeled))
    ours = [row["responses"][0]["extracted_answer"] for row in graded]
    same_as_cascade = sum(o == official_cascade(r["response"]) for o, r in zip(ours, labeled))
    reasons: Counter = Counter()
    for letter, r in zip(ours, labeled):
        recorded = r["official_pred"]
        run_version = official_cascade(r["response"], r["run_date"] >= "2026")
        if letter == recorded:
            reasons["equal"] += 1
        elif recorded is not None and run_version is None:
            found = "null" if letter is None else f"{letter} (full cascade's last letter)"
            reasons[f"recorded letter is the official random guess; ours {found}"] += 1
        elif recorded is None and run_version is None and letter == official_cascade(r["response"]):
            reasons["recorded null: that run had no last-letter fallback; ours = full cascade"] += 1
        elif recorded is None and letter == run_version == official_cascade(r["response"]):
            reasons["recorded null though step 2 (`Answer: X`) matches: that run's code "
                    "differed; ours = full cascade"] += 1
        else:
            reasons["other"] += 1
            print(f"  MMLU-Pro differs: {r['model']} q{r['question_id']} ours={letter} "
                  f"recorded={recorded} cascade_now={official_cascade(r['response'])} "
                  f"tail={r['response'][-80:]!r}")
    print(f"MMLU-Pro ({len(labeled)} rows): same letter/null as the official cascade re-run "
          f"verbatim: {same_as_cascade}/{len(labeled)} = {same_as_cascade / len(labeled):.4%}")
    print("  vs the letter recorded by each official run:")
    for reason, count in reasons.most_common():
        print(f"    {count:5d}  {reason}")
    return same_as_cascade / len(labeled)


def bench_math(labeled: list[dict]) -> dict[str, float]:
    rows, where = math_results_rows(labeled)
    graded = grade_rows(rows)
    figures = {}
    for source in ("qwen2.5-math", "zeroeval"):
        agree = total = unlabeled = unlabeled_parsed = 0
        for r, (row_index, position) in zip(labeled, where):
            if not r["source"].startswith(source):
                continue
            response = graded[row_index]["responses"][position]
            if r["label_is_correct"] is None:
                unlabeled += 1
                unlabeled_parsed += response["extracted_answer"] is not None
                continue
            total += 1
            if response["is_correct"] == r["label_is_correct"]:
                agree += 1
            else:
                print(f"  MATH differs: {r['problem_id']} {r['model']} gold={r['gold_answer']!r} "
                      f"ours={response['extracted_answer']!r} -> {response['is_correct']}, "
                      f"label {r['label_is_correct']}")
        figures[source] = agree / total
        extra = (f"; {unlabeled} rows without a label (no answer field), of which we parse "
                 f"{unlabeled_parsed}") if unlabeled else ""
        print(f"MATH {source}: is_correct agrees with label on {agree}/{total} = "
              f"{agree / total:.4%}{extra}")
    return figures


def throughput(rows: list[dict], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        graded = grade_rows(rows)
    elapsed = time.perf_counter() - start
    return repeat * sum(len(row["responses"]) for row in graded) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labeled-dir", type=Path, default=None,
                        help="folder with the *.dev.jsonl labeled outputs (default: the copies "
                        "in tests/data; ../shared/data/labeled holds the originals)")
    args = parser.parse_args()
    mcq_labeled, math_labeled = load("mmlu_pro", args.labeled_dir), load("math", args.labeled_dir)

    official_agreement = bench_official(mcq_labeled)
    mcq_agreement = bench_mcq(mcq_labeled)
    clear_grading_cache()
    math_rows, _ = math_results_rows(math_labeled)
    math_cold = throughput(math_rows)  # nothing cached: includes starting the pool
    math_figures = bench_math(math_labeled)
    math_warm = throughput(math_rows, repeat=5)
    mcq_rps = throughput(mcq_results_rows(mcq_labeled), repeat=5)
    n_math = sum(len(row["responses"]) for row in math_rows)
    print(f"throughput on {n_math} MATH responses ({len(math_rows)} problems): cold "
          f"{math_cold:,.0f}/s, warm cache {math_warm:,.0f}/s; MMLU-Pro {mcq_rps:,.0f}/s")
    print(f"mmlu_pro_official_agreement={official_agreement:.4f} "
          f"mmlu_pro_agreement={mcq_agreement:.4f} qwen_math_agreement="
          f"{math_figures['qwen2.5-math']:.4f} zeroeval_agreement={math_figures['zeroeval']:.4f} "
          f"math_cold_rps={math_cold:.0f} math_warm_rps={math_warm:.0f} mcq_rps={mcq_rps:.0f}")


if __name__ == "__main__":
    main()
