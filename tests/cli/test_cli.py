"""The `collectkit` command: subcommands, --version, kebab-case flags with snake_case accepted,
renamed flags' old spellings, one-line errors with "did you mean"."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import collectkit
from collectkit.cli import extract as answer_extraction
from collectkit.analyze import compare
from collectkit.cli import compare as compare_cli
from collectkit.cli import run as run_inference
from collectkit.cli import serve as serve_llm
from collectkit.cli import COMMANDS, main
from collectkit.cli.args import ArgumentParser, program_name

ROOT = Path(__file__).resolve().parents[2]
PARSERS = {"serve": serve_llm.build_parser, "run": run_inference.build_parser,
           "extract": answer_extraction.build_parser, "compare": compare_cli.build_parser}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collectkit", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=None)


# ------------------------------------------------------------------------------ the parser class

def test_every_long_option_is_shown_kebab_and_accepted_in_both_spellings():
    parser = ArgumentParser(prog="p")
    parser.add_argument("--max_tokens", type=int)
    group = parser.add_mutually_exclusive_group()  # options added in groups are covered too
    group.add_argument("--dry-run", action="store_true")
    help_text = parser.format_help()
    assert "--max-tokens" in help_text and "--max_tokens" not in help_text
    assert "--dry-run" in help_text and "--dry_run" not in help_text
    for argv in (["--max_tokens", "5", "--dry_run"], ["--max-tokens=5", "--dry-run"]):
        args = parser.parse_args(argv)
        assert args.max_tokens == 5 and args.dry_run is True


def test_hidden_old_names_work_but_are_not_shown():
    parser = ArgumentParser(prog="p")
    parser.add_argument("--stop-sequence", dest="stop", action="append", hidden=("--stop",))
    assert parser.parse_args(["--stop", "a", "--stop_sequence", "b"]).stop == ["a", "b"]
    assert "--stop " not in parser.format_help() and "--stop-sequence" in parser.format_help()


def test_two_options_spelled_alike_are_refused():
    parser = ArgumentParser(prog="p")
    parser.add_argument("--a-b")
    with pytest.raises(argparse.ArgumentError, match="conflicting option string: --a_b"):
        parser.add_argument("--a_b", dest="other")


def test_a_mistyped_flag_is_one_line_naming_the_closest(capsys):
    with pytest.raises(SystemExit) as stop:
        run_inference.build_parser().parse_args(["--k_respones", "3"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage" not in err
    assert "unrecognized argument --k_respones; did you mean --k-responses?" in err


def test_other_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as stop:
        answer_extraction.build_parser().parse_args([])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "-i/--input" in err and "--help" in err


def test_program_name_follows_the_dispatcher():
    with program_name("collectkit run"):
        assert run_inference.build_parser().prog == "collectkit run"
    assert run_inference.build_parser().prog == "python -m collectkit.run_inference"


# ------------------------------------------------------------------------------ every command

@pytest.mark.parametrize("command", sorted(PARSERS))
def test_commands_show_only_kebab_case_long_options(command):
    parser = PARSERS[command]()
    shown = [name for action in parser._actions for name in action.option_strings]
    assert shown and all("_" not in name for name in shown), shown
    help_text = parser.format_help()
    assert not [word for word in help_text.split() if word.startswith("--") and "_" in
                word.split("=")[0] and word.strip("[],.`'()") in parser._option_string_actions]


def test_seed_spellings_of_run_keep_working():
    args = run_inference.build_parser().parse_args([
        "--k_responses", "3", "--max-tokens", "7", "--output_file", "x.jsonl", "--dry_run",
        "--stop", "A", "--stop-sequence", "B", "--api_base", "http://h/v1"])
    assert (args.k_responses, args.max_tokens, args.output_file, args.dry_run) == (
        3, 7, "x.jsonl", True)
    assert args.stop == ["A", "B"] and args.api_base == ["http://h/v1"]


def test_renamed_serve_and_extract_flags_keep_their_old_spellings():
    serve = serve_llm.build_parser()
    new = serve.parse_args(["--engine-seed", "4", "--ready-timeout", "9", "--max_model_len", "512"])
    old = serve.parse_args(["--seed", "4", "--timeout", "9", "--max-model-len", "512"])
    assert (new.engine_seed, new.timeout, new.max_model_len) == (4, 9.0, 512)
    assert (old.engine_seed, old.timeout, old.max_model_len) == (4, 9.0, 512)
    assert "--stop" in serve.format_help() and "--engine-seed" in serve.format_help()
    extract = answer_extraction.build_parser()
    assert extract.parse_args(["-i", "x", "--timeout", "3"]).timeout == 3
    assert extract.parse_args(["-i", "x", "--verify-timeout", "3"]).timeout == 3
    assert extract.parse_args(["-i", "x", "--by_category"]).by_category


def test_run_help_names_the_stop_sequence_flag_not_serves_stop():
    help_text = run_inference.build_parser().format_help()
    assert "--stop-sequence" in help_text and "--stop " not in help_text


# ------------------------------------------------------------------------------ the dispatcher

def test_version_in_process_and_as_python_m(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"collectkit {collectkit.__version__}"
    done = run_cli("-V")
    assert done.returncode == 0 and done.stdout.strip() == f"collectkit {collectkit.__version__}"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in COMMANDS)
    assert main([]) == 2  # no command: the same list on stderr, exit 2
    assert "commands:" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_each_command_runs_its_module_with_its_name(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: collectkit {command} ")


def test_unknown_command_suggests_the_closest(capsys):
    assert main(["rnu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'rnu'; did you mean run?" in err


def test_a_command_whose_module_is_missing_says_so_in_one_line(capsys, monkeypatch):
    monkeypatch.setitem(COMMANDS, "later", COMMANDS["run"].__class__(
        "collectkit.not_written_yet", "a command another branch adds"))
    assert main(["later"]) == 2
    err = capsys.readouterr().err
    assert err == ("collectkit later: error: not available in this version of collectkit "
                   "(collectkit.not_written_yet is not part of it)\n")


def test_a_missing_third_party_module_names_the_extra(tmp_path, capsys, monkeypatch):
    module = tmp_path / "needs_widgets_cmd.py"
    module.write_text("import ipywidgets_not_installed_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "widgets", COMMANDS["run"].__class__("needs_widgets_cmd", "x"))
    assert main(["widgets"]) == 2
    assert "needs the package 'ipywidgets_not_installed_here'" in capsys.readouterr().err


def test_dispatch_passes_the_arguments_and_the_exit_status(tmp_path, capsys):
    assert main(["run", "--dry_run", "--dataset", "math500", "--num-problems", "2",
                 "--output_dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("dry run: 2 problems")
    assert not list(tmp_path.iterdir())  # a dry run writes nothing
    assert main(["extract", "-i", str(tmp_path / "missing.jsonl")]) == 2


def test_python_m_collectkit_is_the_command_from_another_folder(tmp_path):
    done = run_cli("run", "--max-tokenz", "3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("collectkit run: error: unrecognized argument --max-tokenz; did you "
                           "mean --max-tokens? (see collectkit run --help)\n")
