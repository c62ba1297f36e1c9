"""Protocols: the registry, the authors' MMLU-Pro prompt character for character, and presets."""
from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from collectkit.tasks import prompts
from collectkit.tasks import protocols
from collectkit.collect.settings import ConfigError
from collectkit.tasks.load import load_problems
from collectkit.tasks.protocols import PROTOCOLS, ProtocolError, resolve


def bundled(name: str) -> list[dict]:
    path = resources.files("collectkit") / "data" / name
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def mmlu():
    return {p.unique_id: p for p in load_problems("mmlu_pro")}


HEADER_MATH = ('The following are multiple choice questions (with answers) about math. Think step '
               'by step and then output the answer in the format of "The answer is (X)" at the '
               'end.\n\n')
# Test question 8347, typed out from the authors' format_example(question, options): the options
# follow "Options: " each as "X. text\n", and the open answer is "Let's think step by step.".
QUESTION_8347 = ("Question: \u22124 +  ( \u22123 )=\n"
                 "Options: A. \u22124\nB. \u221210\nC. 12\nD. \u22127\nE. 4\nF. 0\nG. 1\n"
                 "H. \u22121\nI. \u221212\nJ. 7\n"
                 "Answer: Let's think step by step.\n\n")
# Validation question 64 (psychology), whose last option is "N/A": dropped, and the chain of
# thought loses its leading "A: ".
EXAMPLE_64 = ("Question: In terms of Hofstede\u2019s (1980) five cultural dimensions, the United "
              "States scores at the top of the scale on:\n"
              "Options: A. individualism and long-term orientation.\n"
              "B. individualism and power distance.\nC. uncertainty avoidance.\n"
              "D. long-term orientation.\nE. individualism.\nF. individualism and masculinity.\n"
              "G. long-term orientation and uncertainty avoidance.\nH. power distance.\n"
              "I. power distance and masculinity.\n"
              "Answer: Let's think step by step. We refer to Wikipedia articles on psychology for "
              "help. US scores highest on individualism among the five cultural dimensions. The "
              "answer is (E).\n\n")


def test_official_prompt_for_a_real_question_character_for_character(mmlu):
    messages = PROTOCOLS["mmlu_pro_official"].build_messages(mmlu["mmlu_pro/8347"])
    assert [m["role"] for m in messages] == ["user"]
    # The five math examples of the validation split, in file order, as the authors lay them out.
    shots = [r for r in bundled("mmlu_pro_validation.jsonl.gz") if r["category"] == "math"]
    assert len(shots) == 5 and all(r["cot_content"].startswith("A: ") for r in shots)
    expected = HEADER_MATH
    for shot in shots:
        expected += "Question: " + shot["question"] + "\nOptions: "
        for letter, option in zip("ABCDEFGHIJ", [o for o in shot["options"] if o != "N/A"]):
            expected += letter + ". " + option + "\n"
        expected += "Answer: " + shot["cot_content"][3:] + "\n\n"
    assert messages[0]["content"] == expected + QUESTION_8347


def test_official_example_block_drops_na_and_the_answer_prefix():
    row = next(r for r in bundled("mmlu_pro_validation.jsonl.gz") if r["question_id"] == 64)
    assert prompts.official_question(row["question"], row["options"], row["cot_content"]) \
        == EXAMPLE_64


def test_official_prompt_of_a_psychology_question_contains_example_64(mmlu):
    problem = next(p for p in mmlu.values() if p.category == "psychology")
    text = PROTOCOLS["mmlu_pro_official"].build_messages(problem)[0]["content"]
    assert EXAMPLE_64 in text
    assert "N/A" not in text.replace(problem.question, "")
    assert text.count("Question: ") == 6 and text.endswith("Answer: Let's think step by step.\n\n")


def test_every_category_has_five_examples_and_a_prompt(mmlu):
    categories = {p.category for p in mmlu.values()}
    assert len(categories) == 14
    for category in categories:
        problem = next(p for p in mmlu.values() if p.category == category)
        text = PROTOCOLS["mmlu_pro_official"].build_messages(problem)[0]["content"]
        assert text.startswith(f"The following are multiple choice questions (with answers) "
                               f"about {category}.")
        assert text.count("\nAnswer: ") == 6


def test_math_presets_messages():
    problem = load_problems("math500", 1)[0]
    assert PROTOCOLS["qwen_boxed"].build_messages(problem) == [
        {"role": "system", "content": "Please reason step by step, and put your final answer "
                                      "within \\boxed{}."},
        {"role": "user", "content": problem.question}]
    r1 = PROTOCOLS["r1"].build_messages(problem)
    assert [m["role"] for m in r1] == ["user"]
    assert r1[0]["content"] == (problem.question + "\nPlease reason step by step, and put your "
                                "final answer within \\boxed{}.")
    assert PROTOCOLS["r1"].sampling == {"temperature": 0.6, "top_p": 0.95}
    assert PROTOCOLS["boxed"].build_messages(problem) == prompts.build_messages(problem)


def test_resolve_defaults_and_choices():
    both = resolve(None, ("math500", "mmlu_pro"))
    assert {d: p.name for d, p in both.items()} == {"math500": "boxed",
                                                    "mmlu_pro": "mmlu_pro_official"}
    chosen = resolve("mmlu_pro_zero_shot, r1", ("math500", "mmlu_pro"))
    assert {d: p.name for d, p in chosen.items()} == {"math500": "r1",
                                                      "mmlu_pro": "mmlu_pro_zero_shot"}
    assert protocols.sampling_defaults(chosen) == {"temperature": 0.6, "top_p": 0.95}


@pytest.mark.parametrize("spec,datasets,message", [
    ("nope", ("math500",), "unknown protocol 'nope'"),
    ("r1", ("mmlu_pro",), "protocol 'r1' is for open-ended problems"),
    ("mmlu_pro_official", ("gpqa_diamond",), "protocol 'mmlu_pro_official' is for mmlu_pro"),
    ("r1,boxed", ("math500",), "two protocols for math500"),
])
def test_resolve_rejects(spec, datasets, message):
    with pytest.raises(ProtocolError, match=message) as error:
        resolve(spec, datasets)
    assert isinstance(error.value, ConfigError) and "\n" not in str(error.value)


def test_hashes_are_stable_distinct_and_recorded():
    hashes = {name: p.template_hash for name, p in PROTOCOLS.items()}
    assert len(set(hashes.values())) == len(hashes)
    assert all(len(h) == 12 for h in hashes.values())
    resolved = resolve(None, ("math500", "mmlu_pro"))
    assert protocols.signature(resolved) == {"protocols": (
        f"boxed@{hashes['boxed']},mmlu_pro_official@{hashes['mmlu_pro_official']}")}
    entries = protocols.manifest_entries(resolved)
    assert entries["mmlu_pro"]["template"].startswith("The following are multiple choice")


def test_rows_without_a_protocol_use_the_legacy_prompts():
    assert protocols.for_row({"dataset": "mmlu_pro"}).name == "mmlu_pro_zero_shot"
    assert protocols.for_row({"is_mcq": False}).name == "boxed"
    assert protocols.for_row({"protocol": "r1", "dataset": "math500"}).name == "r1"
    signed = {"sampling": {"protocols": "qwen_boxed@0123,mmlu_pro_zero_shot@4567"}}
    assert protocols.for_row({**signed, "dataset": "math500"}).name == "qwen_boxed"
    assert protocols.for_row({**signed, "dataset": "mmlu_pro"}).name == "mmlu_pro_zero_shot"
    with pytest.raises(ProtocolError):
        protocols.for_row({"protocol": "gone"})


def test_recommended_sampling_fills_only_what_the_user_left():
    from collectkit.collect.settings import Settings

    r1 = protocols.with_recommended_sampling(Settings(dataset="math500", protocol="r1"))
    assert (r1.temperature, r1.top_p) == (0.6, 0.95)
    chosen = protocols.with_recommended_sampling(
        Settings(dataset="math500", protocol="r1", temperature=1.0), given={"temperature": 1.0})
    assert (chosen.temperature, chosen.top_p) == (1.0, 0.95)
    plain = Settings(dataset="both")
    assert protocols.with_recommended_sampling(plain) is plain


def test_collection_asks_through_the_protocol_and_records_it(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from stub_server import StubServer

    from collectkit.store import append as store
    from collectkit.collect.settings import Settings
    from collectkit.collect.run import run_collection

    out = tmp_path / "results.jsonl"
    with StubServer(completion_tokens=8) as stub:
        settings = Settings(model=stub.model, api_base=stub.base_url, output_dir=str(tmp_path),
                            dataset="mmlu_pro", num_problems="1", k_responses=2, max_tokens=16,
                            max_retries=0, request_timeout=5.0)
        stats = run_collection(settings, output_path=out, progress=False)
        sent = stub.stats()["last_request"]["messages"]
    assert stats.done == 1
    row = json.loads(out.read_text())
    problem = load_problems("mmlu_pro", 1)[0]
    assert sent == prompts.mmlu_pro_official_messages(problem)
    recorded = row["sampling"]["protocols"].split(",")
    assert recorded == [f"mmlu_pro_official@{PROTOCOLS['mmlu_pro_official'].template_hash}"]
    assert protocols.recorded_name(row) == "mmlu_pro_official"
    assert all(r["model"] == stub.model and "system_fingerprint" in r for r in row["responses"])
    manifest = json.loads(store.manifest_path(out).read_text())
    assert manifest["protocols"]["mmlu_pro"]["template"] == prompts.OFFICIAL_TEMPLATE
    assert manifest["signature"]["protocols"].startswith("mmlu_pro_official@")
    assert manifest["settings"]["subset_seed"] == 0


def test_cli_rejects_an_unknown_protocol_in_one_line(tmp_path, capsys):
    from collectkit.cli.run import main

    code = main(["--protocol", "mmlu_pro_offical", "--output_dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: unknown protocol 'mmlu_pro_offical'")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_batch_lines_and_cost_estimates_ask_through_the_protocol(tmp_path):
    from collectkit.collect.batch.driver import batch_lines
    from collectkit.collect.settings import Settings
    from collectkit.collect.pricing import estimate_open_problems

    problem = load_problems("mmlu_pro", 1)[0]
    official = batch_lines([problem], Settings(dataset="mmlu_pro"), n_per_line=True)
    assert official[0]["body"]["messages"] == prompts.mmlu_pro_official_messages(problem)
    zero_shot = batch_lines([problem], Settings(dataset="mmlu_pro", protocol="mmlu_pro_zero_shot"),
                            n_per_line=True)
    assert zero_shot[0]["body"]["messages"] == prompts.build_messages(problem)
    long = estimate_open_problems(Settings(dataset="mmlu_pro", num_problems="2"),
                                  tmp_path / "none.jsonl")
    short = estimate_open_problems(Settings(dataset="mmlu_pro", num_problems="2",
                                            protocol="mmlu_pro_zero_shot"), tmp_path / "none.jsonl")
    assert long.prompt_tokens > 3 * short.prompt_tokens  # the 5-shot prompt is counted
