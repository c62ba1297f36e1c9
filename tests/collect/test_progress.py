"""The progress bar (issue 21): it counts the whole selection, so a resumed or interrupted run
shows the true count, and while no problem has finished yet it shows the requests in flight."""
from __future__ import annotations

from stub_server import StubServer

from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems


def frames(text: str) -> list[str]:
    return [frame.strip() for frame in text.replace("\n", "\r").split("\r") if frame.strip()]


def test_bar_counts_earlier_problems_and_shows_requests_in_flight(tmp_path, capsys):
    with StubServer(completion_tokens=8, delay=4.5) as stub:
        settings = Settings(model=stub.model, api_base=stub.base_url, output_dir=str(tmp_path),
                            k_responses=2, max_tokens=16, max_retries=0, request_timeout=30.0,
                            max_concurrent=2)
        output = tmp_path / "r.jsonl"
        run_collection(settings, load_problems("both", 4)[:2], output_path=output,
                       progress=False)
        capsys.readouterr()
        stats = run_collection(settings, load_problems("both", 4), output_path=output,
                               progress=True)
    shown = frames(capsys.readouterr().err)
    assert stats.done == 2 and stats.skipped_done == 2
    assert shown[0].startswith("50%") and "2/4" in shown[0], shown  # not 0/2
    waiting = [f for f in shown if "2/4" in f and "in_flight=2" in f]
    assert waiting, shown  # before the first of this run's problems finished
    assert "4/4" in shown[-1], shown
