"""Human tables and JSON reports. Every measuring command prints one and can write the other."""

from __future__ import annotations

import json
from pathlib import Path


def fmt_int(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(rows: list[dict], columns: list[tuple[str, str]], footer: dict | None = None) -> str:
    """Render ``rows`` as an aligned text table; ``columns`` is [(key, header)]; numbers right-aligned."""
    body = [[fmt_int(r.get(k, "")) for k, _ in columns] for r in rows]
    if footer:
        body.append([fmt_int(footer.get(k, "")) for k, _ in columns])
    heads = [h for _, h in columns]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(heads)]
    numeric = [all(isinstance(r.get(k), (int, float)) for r in rows if r.get(k) != "") for k, _ in columns]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(heads), line(["-" * w for w in widths])]
    out += [line(b) for b in body[:len(rows)]]
    if footer:
        out += [line(["-" * w for w in widths]), line(body[-1])]
    return "\n".join(out)


def write_json(path, doc: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1, default=str) + "\n")
