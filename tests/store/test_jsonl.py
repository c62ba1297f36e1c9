"""The one line rule (collectkit/jsonl.py): lines end at "\\n" only, and the writer leaves no
character another reader breaks a line at (issue 24, item 1)."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from collectkit.store import jsonl
from collectkit.store import results
from collectkit.store import append as store

# Every character str.splitlines() breaks at besides "\n".
BREAKS = ["\x85", "\u2028", "\u2029", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
ODD = "".join(f"part{i}{char}" for i, char in enumerate(BREAKS)) + "end"
PACKAGE = Path(__file__).resolve().parents[2] / "collectkit"


def row(uid: str = "p1", text: str = ODD) -> dict:
    return {"unique_id": uid, "problem": text, "answer_correct": "1",
            "choices": [text, "b"], "choice_index_correct": 0,
            "responses": [{"full_response": text}], "sampling": {"stop": [text]}, "status": "ok"}


def test_every_line_break_other_than_newline_is_splitlines_but_not_ours():
    assert len(ODD.splitlines()) == len(BREAKS) + 1  # what the old readers did
    assert jsonl.split_lines(ODD + "\n") == [ODD]
    assert jsonl.split_lines("a\nb") == ["a", "b"]  # a last line without its newline counts


@pytest.mark.parametrize("char", BREAKS)
def test_the_writer_escapes_every_line_break(char):
    line = jsonl.dumps_line(row(text=f"a{char}b"))
    assert line.count("\n") == 1 and line.endswith("\n")
    assert len(line.splitlines()) == 1  # safe for str.splitlines(), bytes.splitlines(), editors
    assert len(line.encode().splitlines()) == 1
    assert json.loads(line) == row(text=f"a{char}b")


def test_text_and_binary_readers_split_alike():
    raw = (json.dumps(row(), ensure_ascii=False) + "\n").encode() * 3  # an old file: raw U+0085
    assert b"\xc2\x85" in raw and b"\xe2\x80\xa8" in raw
    text_lines = jsonl.split_lines(raw.decode())
    binary_lines = [line for _, line in jsonl.file_lines(io.BytesIO(raw))]
    assert [line.encode() + b"\n" for line in text_lines] == binary_lines
    assert [json.loads(line) for line in text_lines] == [row()] * 3


def test_an_old_file_with_raw_line_breaks_reads_and_resumes(tmp_path):
    """Files written before the writer escaped U+0085/U+2028/U+2029 hold them raw: the reader
    and the resume scan agree they are one row per line."""
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(row(f"p{i}"), ensure_ascii=False) + "\n"
                            for i in range(3)), encoding="utf-8")
    rows, skipped = results.read_results_counting(path)
    assert skipped == 0 and rows == [row(f"p{i}") for i in range(3)]
    assert store.scan_results(path).ids == {"p0", "p1", "p2"}
    assert store.scan_results(path).corrupt == []


def test_the_resume_tail_is_written_as_the_row_is():
    """attempts.row_tail must end every line the writer writes, break characters included."""
    from collectkit.collect.attempts import row_tail

    sampling = {"stop": [ODD]}
    line = jsonl.dumps_line({"unique_id": "p", "responses": [], "sampling": sampling,
                             "status": "ok"}).encode()
    assert line.endswith(row_tail(sampling))


def test_no_reader_splits_lines_another_way():
    """str.splitlines() and text-mode iteration break at more than "\\n": no module reading data
    files uses them (the three left read a command's output, a log and an error message)."""
    allowed = {"notebook/chooser.py", "serve/replicas.py", "serve/server.py", "store/jsonl.py",
               "training_data/folder.py"}  # the export's own README card, Markdown
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if path.relative_to(PACKAGE).as_posix() not in allowed and ".splitlines(" in source:
            offenders.append(f"{path.name}: splitlines")
        if re.search(r"""gzip\.open\([^)]*["']rt["']""", source):
            offenders.append(f"{path.name}: gzip text mode")
        for call in re.findall(r"""\bopen\([^)]*encoding=[^)]*\)""", source):
            if 'newline=""' not in call and '"w"' not in call and '"a"' not in call:
                offenders.append(f"{path.name}: text-mode {call}")  # csv: newline="" is its own
    assert offenders == []
