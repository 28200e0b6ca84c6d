"""Pareto plots of compression results: accuracy against arena RAM, engine flash and est. cycles.

    >>> pareto_figure({"budget": pts_a, "uniform": pts_b}, dense, "ResNet-small").savefig("p.png")
    >>> write_plots(fig, Path("out/pareto"))            # pareto.png and pareto.svg
    >>> benchmark_plot(json.load(open("benchmarks/budget_pruning.json")), Path("docs/budget_pruning.png"))

A point is a dict with ``int8_top1`` (%), ``ram`` (arena bytes), ``flash`` (engine flash bytes) and
``cycles`` (estimated_cycles); the dense model is drawn as a star in every panel, and each method's
Pareto front (no other point of the method is both smaller and more accurate) as a step line.
"""

from __future__ import annotations

from pathlib import Path

AXES = [("ram", "arena RAM (bytes, link map)"), ("flash", "engine flash (bytes, link map)"),
        ("cycles", "estimated Cortex-M4 cycles (bench)")]
STYLE = {"budget": ("o", "tab:blue"), "uniform": ("s", "tab:orange"), "sparsity": ("s", "tab:orange")}


def front(points: list[dict], key: str) -> list[dict]:
    """The points no other point beats on both ``key`` (smaller) and top-1 (larger), by ``key``."""
    pts = sorted((p for p in points if p.get(key) is not None and p.get("int8_top1") is not None),
                 key=lambda p: (p[key], -p["int8_top1"]))
    out, best = [], -1.0
    for p in pts:
        if p["int8_top1"] > best:
            out.append(p)
            best = p["int8_top1"]
    return out


def pareto_axes(axes, series: dict[str, list[dict]], dense: dict | None, title: str = "") -> None:
    for ax, (key, label) in zip(axes, AXES):
        for name, pts in series.items():
            marker, color = STYLE.get(name, ("^", None))
            xs = [p[key] for p in pts if p.get(key) is not None and p.get("int8_top1") is not None]
            ys = [p["int8_top1"] for p in pts if p.get(key) is not None and p.get("int8_top1") is not None]
            ax.scatter(xs, ys, marker=marker, color=color, label=name, zorder=3)
            f = front(pts, key)
            if len(f) > 1:
                ax.step([p[key] for p in f], [p["int8_top1"] for p in f], where="post", color=color, alpha=0.5)
        if dense and dense.get(key) is not None:
            ax.scatter([dense[key]], [dense["int8_top1"]], marker="*", s=160, color="black", label="dense", zorder=4)
        ax.set_xlabel(label)
        ax.xaxis.set_major_formatter(_thousands)  # 900000 -> 900k: seven-digit ticks ran into each other
        ax.set_ylabel("held-out int8 top-1 (%)")
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=8)


def _thousands(v: float, _pos=None) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    return f"{v / 1e3:g}k" if abs(v) >= 1e4 else f"{v:g}"


def pareto_figure(series: dict[str, list[dict]], dense: dict | None, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    pareto_axes(axes, series, dense, title)
    fig.tight_layout()
    return fig


def write_plots(fig, stem: Path) -> list[Path]:
    """``stem``.png and ``stem``.svg, each written to a temporary name and renamed (never half-written)."""
    paths = []
    for ext in ("png", "svg"):
        p = Path(f"{stem}.{ext}")
        tmp = p.with_name(p.name + ".tmp")
        fig.savefig(tmp, format=ext, dpi=110)
        tmp.replace(p)
        paths.append(p)
    return paths


def benchmark_plot(out: dict, png: Path) -> list[Path]:
    """One row of three panels per model of a ``benchmarks/budget_pruning.py`` result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = out["models"]
    fig, axes = plt.subplots(len(models), 3, figsize=(13, 3.6 * len(models)), squeeze=False)
    for row, (name, res) in zip(axes, models.items()):
        series: dict[str, list[dict]] = {}
        for p in res["points"]:
            if "ram" in p:
                series.setdefault(p["method"], []).append(p)
        pareto_axes(row, series, res["dense"], f"{name}, {out.get('data', '')}")
    fig.tight_layout()
    return write_plots(fig, Path(png).with_suffix(""))
