"""TinyTorch's BenchmarkSuite: every metric of a Benchmark, a markdown report and a chart, in one folder."""
import os

from .benchmark import Benchmark

__all__ = ["BenchmarkSuite"]


class BenchmarkSuite:
    """BenchmarkSuite(models, datasets, output_dir): run_full_benchmark(), generate_report(), plot_results().
    Keyword arguments (warmup_runs, measurement_runs, timer, interleave, ...) go to the Benchmark."""

    def __init__(self, models, datasets=None, output_dir="benchmark_results", **benchmark_kwargs):
        self.benchmark = Benchmark(models, datasets, **benchmark_kwargs)
        self.output_dir = output_dir
        self.results = {}
        self.report = None

    def run_full_benchmark(self, input_shape=None):
        """{"latency": {name: ms}, "memory": {name: MB}, "accuracy": {name: value}} (accuracy only for
        candidates that can be evaluated; nothing is simulated)."""
        b = self.benchmark
        self.report = b.run(b._input(input_shape))
        self.results = {"latency": {n: r.scaled(1e3, "ms", f"{n}_latency_ms") for n, r in self.report.results.items()},
                        "memory": b.run_memory_benchmark(input_shape),
                        "accuracy": b.run_accuracy_benchmark()}
        return self.results

    def _require(self, who):
        if self.report is None:
            raise RuntimeError(f"BenchmarkSuite.{who}: nothing measured yet; call run_full_benchmark() first")

    def generate_report(self):
        """Markdown: the machine, then each metric's median, IQR and n per candidate; also written to
        output_dir/benchmark_report.md and the raw data to output_dir/benchmark_results.json."""
        self._require("generate_report")
        os.makedirs(self.output_dir, exist_ok=True)
        lines = ["# Benchmark report", "", "## Machine", ""]
        lines += [f"- {k}: {v}" for k, v in self.report.machine.items()]
        lower_better = {"latency": True, "memory": True, "accuracy": False}
        for metric, results in self.results.items():
            if not results:
                continue
            lines += ["", f"## {metric}", ""]
            best = (min if lower_better[metric] else max)(results, key=lambda n: results[n].median)
            for name, r in results.items():
                mark = "  (best)" if name == best and len(results) > 1 else ""
                lines.append(f"- **{name}**: median {r.median:.6g} {r.unit}, IQR {r.iqr:.3g}, n={r.count}{mark}")
        text = "\n".join(lines) + "\n"
        with open(os.path.join(self.output_dir, "benchmark_report.md"), "w") as f:
            f.write(text)
        self.report.save_json(os.path.join(self.output_dir, "benchmark_results.json"))
        return text

    def plot_results(self, save_plots=True):
        """Writes output_dir/benchmark_comparison.png; returns its path."""
        self._require("plot_results")
        os.makedirs(self.output_dir, exist_ok=True)
        return self.report.save_chart(os.path.join(self.output_dir, "benchmark_comparison.png"))
