"""RowIndex: one checked pass keeps offsets; rows come back one at a time by the reader's rule."""
import json

import pytest

from collectkit.store.results import InputError, RowIndex, load_results


def _line(uid, text):
    return json.dumps({"unique_id": uid, "answer_correct": "1",
                       "responses": [{"full_response": text}]}) + "\n"


def test_later_row_wins_in_its_place_and_matches_load_results(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(_line("a", "one") + _line("b", "two") + _line("a", "three\u0085x")
                    + '{"unique_id": "c", "answer', encoding="utf-8")
    with RowIndex(path, summarize=lambda row: row["unique_id"]) as index:
        assert len(index) == 2 and index.torn == 1
        assert index.summaries == ["b", "a"]
        assert list(index) == load_results(path)
        assert index.row("a")["responses"][0]["full_response"] == "three\u0085x"


def test_a_bad_line_and_an_empty_file_are_one_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_line("a", "x") + "not json\n" + _line("b", "y"), encoding="utf-8")
    with pytest.raises(InputError, match="line 2: malformed JSON"):
        RowIndex(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no results rows"):
        RowIndex(empty)
    assert len(RowIndex(empty, allow_empty=True)) == 0


def test_a_file_replaced_under_the_index_is_named(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(_line("a", "x" * 50) + _line("b", "y"), encoding="utf-8")
    index = RowIndex(path)
    with open(path, "r+b") as handle:  # rewritten in place: offsets no longer hold
        handle.write(_line("zz", "q").encode())
        handle.write(b" " * 100 + b"\n")
    with pytest.raises(InputError, match="changed while it was being read"):
        index.row("a")
    index.close()
