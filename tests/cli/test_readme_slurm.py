"""The README's SLURM example ("Splitting a run across machines") run as an array would run it.

The job script is taken from the README and run as written, with three changes a laptop needs:
the stub server's port for 8000, a temporary folder for /shared/results, and short sleeps. On
PATH, `vllm` starts the stub server (real socket) on the port it is given, `sbatch` runs the
script once per task of its `#SBATCH --array` (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT
set as SLURM sets them) and `scontrol requeue JOB_TASK` runs that task again; the README's
commands after the script then run as written.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stub_server import free_port

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "tests" / "stub_server.py"
RESULTS = "/shared/results"

FAKE_VLLM = f'''#!{sys.executable}
"""vllm serve MODEL ... --port P: the stub server in its place."""
import os, sys
args = sys.argv[1:]
port = args[args.index("--port") + 1]
os.execv(sys.executable, [sys.executable, {str(STUB)!r}, "--port", port, "--model", args[1],
                          "--completion-tokens", "8", "--tag-prompt"])
'''
FAKE_SBATCH = f'''#!{sys.executable}
"""sbatch SCRIPT: each task of its #SBATCH --array=A-B, one after the other."""
import json, os, re, subprocess, sys
script = sys.argv[-1]
first, last = map(int, re.search(r"--array=(\\d+)-(\\d+)", open(script).read()).groups())
json.dump({{"script": script, "count": last - first + 1}}, open("job-1234.json", "w"))
print("Submitted batch job 1234")
for task in range(first, last + 1):
    env = {{**os.environ, "SLURM_ARRAY_TASK_ID": str(task),
           "SLURM_ARRAY_TASK_COUNT": str(last - first + 1)}}
    code = subprocess.run(["bash", script], env=env).returncode
    if code:
        sys.exit(code)
'''
FAKE_SCONTROL = f'''#!{sys.executable}
"""scontrol requeue JOB_TASK: that task again, with the array's environment."""
import json, os, subprocess, sys
job, task = sys.argv[2].split("_")
state = json.load(open(f"job-{{job}}.json"))
env = {{**os.environ, "SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_COUNT": str(state["count"])}}
sys.exit(subprocess.run(["bash", state["script"]], env=env).returncode)
'''


def section(readme: str) -> str:
    return readme.split("## Splitting a run across machines", 1)[1].split("\n## ", 1)[0]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.DOTALL)


@pytest.mark.slow
def test_the_readme_slurm_array_runs_then_merges(tmp_path):
    blocks = bash_blocks(section((ROOT / "README.md").read_text(encoding="utf-8")))
    script, after = blocks[0], blocks[1]
    assert script.startswith("#!/bin/bash\n#SBATCH") and "--shard $SLURM_ARRAY_TASK_ID/" \
        "$SLURM_ARRAY_TASK_COUNT" in script and "vllm serve $MODEL --data-parallel-size" in script
    port, results = str(free_port()), tmp_path / "results"

    def local(text: str) -> str:
        return text.replace("8000", port).replace(RESULTS, str(results)).replace(
            "sleep 10", "sleep 0.2")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("vllm", FAKE_VLLM), ("sbatch", FAKE_SBATCH), ("scontrol", FAKE_SCONTROL),
                       ("collectkit", f'#!/bin/sh\nexec "{sys.executable}" -m collectkit "$@"\n')):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "collect.sh").write_text(local(script))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "COLLECTKIT_STATE_DIR": str(tmp_path / "state"), "HF_HUB_OFFLINE": "1",
           "COLLECTKIT_NUM_PROBLEMS": "8"}  # the script gives no --num-problems: 8, not 500
    ran = []
    for line in re.sub(r"\\\n\s*", " ", after).splitlines():
        command = re.sub(r"(^|\s)#.*$", "", line).strip()
        if command:
            ran.append(subprocess.run(["bash", "-c", local(command)], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, timeout=300))
            assert ran[-1].returncode == 0, (command, ran[-1].stdout, ran[-1].stderr)
    assert len(ran) == 3  # sbatch, scontrol requeue, collectkit merge
    assert ran[0].stdout.count("problems done") == 4  # one collection per task
    assert "0/0 problems done" in ran[1].stdout and "2 already done" in ran[1].stdout
    assert "merged 4 shard file(s) (0/4, 1/4, 2/4, 3/4)" in ran[2].stdout
    merged = results / "Qwen_Qwen3-8B_MATH_500.jsonl"
    rows = [json.loads(line) for line in merged.read_text().splitlines()]
    assert len(rows) == 8 and all(len(row["responses"]) == 64 for row in rows)
    assert len({row["unique_id"] for row in rows}) == 8
