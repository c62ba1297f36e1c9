"""Size of the stored logprobs per 1,000 tokens, on the embedded engine (llama.cpp + SmolLM2).

    .venv/bin/python benchmarks/bench_logprobs_size.py [--quick] [--max-tokens 256]

Asks a few MATH-500 problems with logprobs on (top_logprobs N = 0, 5, 20), and measures per
1,000 sampled tokens: the packed field the kit stores in the results row (collectkit.store.logprobs,
JSON as written), and the server's own `logprobs` JSON it replaces. Holds the engine lock.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import base_parser, free_port, write_summary  # noqa: E402

import openai  # noqa: E402

from collectkit.tasks import protocols  # noqa: E402
from collectkit.serve.engine_lock import engines_exclusively  # noqa: E402
from collectkit.store.logprobs import from_choice  # noqa: E402
from collectkit.tasks.load import load_problems  # noqa: E402
from collectkit.serve.server import start_server  # noqa: E402


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    problems = load_problems("math500", 2 if args.quick else 6)
    figures = {}
    with engines_exclusively("bench_logprobs_size"), start_server(
            engine="llamacpp", port=free_port(), n_parallel=4, max_model_len=4096) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        for top_n in (0, 5, 20):
            tokens = packed_bytes = raw_bytes = 0
            for problem in problems:
                extra = {"top_logprobs": top_n} if top_n else {}
                response = client.chat.completions.create(
                    model=server.model_id, messages=protocols.messages(problem),
                    max_tokens=args.max_tokens, temperature=0.7, logprobs=True, seed=1, **extra)
                choice = response.choices[0]
                packed = from_choice(choice, top_n)
                tokens += packed["n_tokens"]
                packed_bytes += len(json.dumps(packed, ensure_ascii=False).encode())
                raw_bytes += len(json.dumps(choice.logprobs.model_dump(exclude_none=True),
                                            ensure_ascii=False).encode())
            per_k = {"packed_kb": packed_bytes / tokens, "server_json_kb": raw_bytes / tokens}
            figures[f"top_{top_n}"] = {"tokens": tokens, **{k: round(v, 2)
                                                           for k, v in per_k.items()}}
            print(f"top_logprobs {top_n:>2}: {tokens:,} tokens; stored {per_k['packed_kb']:.1f} KB "
                  f"per 1,000 tokens (the server's JSON: {per_k['server_json_kb']:.1f} KB, "
                  f"{per_k['server_json_kb'] / per_k['packed_kb']:.1f}× more)")
    write_summary(args.summary_json, "logprobs size", figures, [])
    print(f"stored logprobs per 1,000 tokens: {figures['top_0']['packed_kb']:.1f} KB (sampled "
          f"tokens only), {figures['top_5']['packed_kb']:.1f} KB with top 5")


if __name__ == "__main__":
    main()
