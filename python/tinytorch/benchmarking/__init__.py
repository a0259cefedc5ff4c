"""Module 19: benchmarking. A harness that times candidates fairly and reports what it measured.

    from tinytorch.benchmarking import Benchmark, Candidate, olympics
    report = Benchmark({"tinytorch": lambda: a @ b, "numpy": lambda: an @ bn}).run()
    print(report.table()); report.save_json("matmul.json"); report.save_chart("matmul.png")

    cmp = olympics(Candidate("baseline", run_base, model=base, accuracy=evaluate),
                   Candidate("int8", run_q, model=qmodel, accuracy=evaluate))
    print(cmp.table())

Also importable as `tinytorch.perf.benchmarking` and, for TinyTorch's code,
`tinytorch.benchmarking.benchmark`. Design notes and the JSON schema: docs/benchmarking.md.
"""
from .benchmark import (DEFAULT_MEASUREMENT_RUNS, DEFAULT_WARMUP_RUNS, Benchmark, BenchmarkReport, BenchmarkResult,
                        Candidate, measure, parameter_bytes)
from .clock import FakeClock
from .machine import machine_info, peak_memory_delta, peak_rss_bytes
from .olympics import AXES, OlympicEvent, olympics, olympics_ratios
from .report import SCHEMA, SCHEMA_VERSION, format_table, load_results, save_chart, save_json
from .stats import speedup_interval, speedup_range, summarize
from .suite import BenchmarkSuite

__all__ = ["FakeClock", "Benchmark", "BenchmarkReport", "BenchmarkResult", "BenchmarkSuite", "Candidate", "measure",
           "parameter_bytes", "machine_info", "peak_memory_delta", "peak_rss_bytes", "olympics", "olympics_ratios", "OlympicEvent",
           "AXES", "SCHEMA", "SCHEMA_VERSION", "format_table", "load_results", "save_chart", "save_json",
           "speedup_interval", "speedup_range", "summarize", "DEFAULT_WARMUP_RUNS", "DEFAULT_MEASUREMENT_RUNS"]
