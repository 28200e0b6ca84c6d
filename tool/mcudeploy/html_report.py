"""A self-contained HTML report (inline SVG, no scripts, no dependencies) for validate/profile."""

from __future__ import annotations

import html


def _bars(rows: list[dict], key: str, unit: str) -> str:
    rows = [r for r in rows if r.get(key)]
    if not rows:
        return "<p>no per-layer counts</p>"
    top = max(r[key] for r in rows)
    h, w = 22, 420
    parts = [f'<svg width="{w + 320}" height="{h * len(rows) + 10}" font-family="monospace" font-size="12">']
    for i, r in enumerate(rows):
        bw = max(1, int(w * r[key] / top))
        y = 5 + i * h
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(r["name"])[:18]}</text>'
                     f'<rect x="150" y="{y}" width="{bw}" height="{h - 6}" fill="#4a7fb5"/>'
                     f'<text x="{156 + bw}" y="{y + 14}">{r[key]:,} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _confusion(m: list[list[int]] | None) -> str:
    if not m:
        return "<p>no labels: no confusion matrix</p>"
    top = max(max(r) for r in m) or 1
    cells = ["<table class='cm'><tr><th>true \\ pred</th>" + "".join(f"<th>{j}</th>" for j in range(len(m))) + "</tr>"]
    for i, row in enumerate(m):
        tds = "".join(f"<td style='background: rgba(74,127,181,{v / top:.2f})'>{v}</td>" for v in row)
        cells.append(f"<tr><th>{i}</th>{tds}</tr>")
    return "".join(cells) + "</table>"


def render(title: str, summary: dict, layers: list[dict], counter: str, confusion=None) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in summary.items() if not isinstance(v, (list, dict)))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} .cm td{{min-width:2.5em}}</style></head><body>
<h1>{html.escape(title)}</h1><table>{rows}</table>
<h2>Per-layer latency ({html.escape(counter)})</h2>{_bars(layers, "count", counter)}
<h2>Confusion matrix (device)</h2>{_confusion(confusion)}
</body></html>"""
