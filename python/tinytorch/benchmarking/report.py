"""Reports: JSON (a versioned schema, documented in docs/benchmarking.md), a text table, a PNG chart.

The JSON keeps every raw measurement, so a reader can recompute any figure;
loading it rebuilds the statistics from the raw values rather than trusting
the stored ones.
"""
import json
import os
import tempfile

__all__ = ["SCHEMA", "SCHEMA_VERSION", "report_to_dict", "report_from_dict", "save_json", "load_results",
           "format_table", "save_chart"]

SCHEMA = "tinytorch.benchmarking"
SCHEMA_VERSION = 1


def report_to_dict(report):
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created_utc": report.created_utc,
            "machine": dict(report.machine), "config": dict(report.config), "order": list(report.order),
            "results": {name: r.to_dict() for name, r in report.results.items()},
            "olympics": report.olympics}


def report_from_dict(d):
    from .benchmark import BenchmarkReport, BenchmarkResult
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        got = d.get("schema") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"load_results: not a tinytorch benchmark report (schema {got!r}, expected {SCHEMA!r})")
    if d.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"load_results: schema_version {d.get('schema_version')!r} is not supported by this "
                         f"tinytorch (it reads version {SCHEMA_VERSION}); upgrade tinytorch or re-run the benchmark")
    missing = [k for k in ("machine", "config", "order", "results") if k not in d]
    if missing:
        raise ValueError(f"load_results: the report lacks {', '.join(missing)}")
    results = {name: BenchmarkResult.from_dict(r) for name, r in d["results"].items()}
    return BenchmarkReport(results, list(d["order"]), dict(d["machine"]), dict(d["config"]),
                           d.get("olympics"), d.get("created_utc", ""))


def save_json(report, path):
    """Writes atomically (a reader never sees half a file); returns the path."""
    text = json.dumps(report_to_dict(report), indent=2, allow_nan=False)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
    return path


def load_results(path):
    """A BenchmarkReport from a JSON file written by save_json."""
    with open(path) as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"load_results: {path} is not JSON ({e})") from None
    return report_from_dict(d)


def _fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1e3:.4g} ms"
    if unit == "bytes":
        for div, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= div:
                return f"{v / div:.4g} {name}"
        return f"{v:.0f} B"
    return f"{v:.4g}"


def format_table(report):
    """A plain-text table: latency per candidate, then the olympics axes if there are any."""
    lines = [f"machine: {report.machine.get('cpu', '?')}, BLAS {report.machine.get('blas_core', '?')} "
             f"x{report.machine.get('blas_threads', '?')} threads",
             f"{'candidate':24s} {'median':>12s} {'IQR':>12s} {'min':>12s} {'max':>12s}  n"]
    for name, r in report.results.items():
        lines.append(f"{name:24s} {_fmt(r.median, r.unit):>12s} {_fmt(r.iqr, r.unit):>12s} "
                     f"{_fmt(r.min_val, r.unit):>12s} {_fmt(r.max_val, r.unit):>12s}  {r.count}")
    if report.olympics:
        o = report.olympics
        lines.append("")
        lines.append(f"{'axis':10s} {o['baseline'][:14]:>14s} {o['optimized'][:14]:>14s} {'ratio':>8s}  meaning")
        for axis, a in o["axes"].items():
            ratio = "-" if a["ratio"] is None else f"{a['ratio']:.3g}x"
            lines.append(f"{axis:10s} {_fmt(a['baseline'], a['unit']):>14s} {_fmt(a['optimized'], a['unit']):>14s} "
                         f"{ratio:>8s}  {a['ratio_is']}")
    return "\n".join(lines)


def save_chart(report, path):
    """A PNG: latency distributions (box per candidate) and, for an olympics, the four ratios.
    Drawn with matplotlib's Agg canvas directly, so no global backend is switched (safe in notebooks)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("save_chart needs matplotlib: pip install matplotlib "
                          "(or the test extra: pip install 'tinytorch[test]')") from None
    panels = 2 if report.olympics else 1
    fig = Figure(figsize=(5.5 * panels, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    names = list(report.results)
    ax.boxplot([[v * 1e3 for v in report.results[n].values] for n in names])
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("latency per run (ms)")
    ax.set_title("latency" + (" (interleaved rounds)" if report.config.get("interleave") else ""))
    if report.olympics:
        ax2 = fig.add_subplot(1, 2, 2)
        axes = report.olympics["axes"]
        labels = list(axes)
        ratios = [axes[a]["ratio"] if axes[a]["ratio"] is not None else 0.0 for a in labels]
        bars = ax2.bar(labels, ratios, color=["tab:green" if r >= 1 else "tab:red" for r in ratios])
        ax2.axhline(1.0, color="black", linewidth=1)
        for bar, a in zip(bars, labels):
            txt = "n/a" if axes[a]["ratio"] is None else f"{axes[a]['ratio']:.2f}x"
            ax2.annotate(txt, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
        ax2.set_title(f"{report.olympics['optimized']} vs {report.olympics['baseline']} (>1: optimized wins)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path
