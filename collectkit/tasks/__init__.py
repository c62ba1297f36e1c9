"""Benchmarks, one module each (math500, mmlu_pro, aime, gsm8k, gpqa, custom) and a registry."""
from collectkit.tasks.base import ANSWER_KINDS, LETTERS, Benchmark, Problem, ProblemError
from collectkit.tasks.registry import REGISTRY, answer_kind_of, benchmark, benchmarks, family_of

__all__ = ["ANSWER_KINDS", "LETTERS", "Benchmark", "Problem", "ProblemError", "REGISTRY",
           "answer_kind_of", "benchmark", "benchmarks", "family_of"]
