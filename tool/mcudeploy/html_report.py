"""The validation report as one self-contained HTML page (inline CSS, no scripts, no dependencies).

Usage::

    Path("validate.html").write_text(validation_page("mcudeploy validate: out/lenet", rep))
    render(title, summary, layers, counter, confusion)     # the older generic page (profile-style)

Laid out as a vendor's validation report is (summary first, then what each metric means, the
confusion matrix, per-layer latency beside its estimate, the memory map, the link, and the
layer-by-layer diff when the device disagreed), so a reader who never saw mcudeploy can tell
whether the deployment is right and where its time and memory go. Every number carries its unit
and is formatted for reading (percent, thousands separators, a few significant digits); nothing
prints as a raw ``True``, ``None`` or a 17-digit float. ``docs/validate_report.png`` is a
screenshot of this page (scripts/report_screenshot.sh).
"""

from __future__ import annotations

import datetime
import html

# One line each: what the metric measures and how to read it.
METRICS = [
    ("bit_exact", "bit-exact", ("device output byte-equal to the numpy integer reference; anything below all "
     "samples is a bug (see the layer-by-layer diff)")),
    ("accuracy_device", "accuracy, device", "top-1 accuracy of the board's int8 outputs on the labels"),
    ("accuracy_float", "accuracy, float model", "top-1 accuracy of the original float32 model on the same samples"),
    ("accuracy_reference", "accuracy, int8 reference", ("top-1 of the numpy int8 reference (equal to the device's "
     "when bit-exact)")),
    ("agreement_float", "top-1 agreement", "share of samples where device and float model pick the same class"),
    ("rmse", "rmse", ("root mean square of (device - float) over every dequantized output value, in the "
     "output's units (logits); the typical size of the quantization error")),
    ("mae", "mae", "mean absolute (device - float) error, in the output's units"),
    ("l2r", "l2r", ("relative L2 error ||device - float|| / ||float|| over all outputs: 0 is identical, "
     "0.01 is 1 % of the outputs' energy")),
    ("cos", "cos", "cosine similarity of device and float outputs: 1 is the same direction"),
]
COUNTERS = {"emulated_instructions": "instructions counted by QEMU -icount (not cycles)",
            "dwt_cycles": "core clock cycles from the DWT cycle counter (silicon)",
            "systick_cycles": "core clock cycles from SysTick (silicon, no DWT)",
            "estimated_cycles": "Cortex-M4 timing model over an instruction-exact run (an estimate)"}
LINK_NOTE = (
    "How the samples crossed the UART. A <b>retry</b> is a request sent again because its reply was damaged, "
    "lost or late; a <b>timeout</b> is a reply that did not arrive within the link's wait; <b>bad frames</b> "
    "failed their CRC; <b>stale</b> replies answered an earlier attempt; <b>reconnects</b> reopened the port; "
    "<b>device resets</b> were detected by the input CRC. On a loaded machine the emulator and the host share "
    "the CPU, so replies arrive late and retries and timeouts appear with no fault on the line. They cost time, "
    "never correctness: the device runs each input once and resends its cached result, and every sample above "
    "was compared byte for byte.")

CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2430;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 6px;border-bottom:2px solid #dde3ea;padding-bottom:3px}
.sub{color:#5a6472;margin-bottom:14px} table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #d6dce3;padding:3px 9px;vertical-align:top} th{background:#f3f5f8;text-align:left;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .note{color:#5a6472;font-size:13px;max-width:900px}
.ok{color:#1b7f3b;font-weight:600} .bad{color:#b3261e;font-weight:600}
.bar{background:#4a7fb5;height:12px;display:inline-block;vertical-align:middle} .bar.est{background:#c7d6e8}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0} .card{border:1px solid #d6dce3;border-radius:6px;padding:8px 12px;min-width:150px}
.card .v{font-size:20px;font-weight:600} .card .k{color:#5a6472;font-size:12px}
.cm td{text-align:right;min-width:2.6em;font-variant-numeric:tabular-nums} .cm td.diag{outline:2px solid #1b7f3b;outline-offset:-2px}
code{background:#f3f5f8;padding:0 3px}"""


def num(v, unit: str = "") -> str:
    """Thousands separators for integers, 4 significant digits for other numbers, '-' for None."""
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    s = f"{v:,}" if isinstance(v, int) else f"{v:,.4g}"
    return f"{s} {unit}".rstrip()


def pct(v, digits: int = 2) -> str:
    return "&ndash;" if v is None else f"{100 * v:.{digits}f} %"


def _e(s) -> str:
    return html.escape(str(s))


def _bar(v: float, top: float, cls: str = "", width: int = 260) -> str:
    w = 0 if not top or not v else max(1, round(width * v / top))
    return f"<span class='bar {cls}' style='width:{w}px'></span>"


def _table(head: list[str] | None, rows: list[list[str]], num_cols: set[int] = frozenset()) -> str:
    """A table; ``head`` None for a key/value table (the first column then reads as headers)."""
    h = "".join(f"<th>{c}</th>" for c in head) if head else ""
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in num_cols else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    if not head:
        body = body.replace("<tr><td>", "<tr><th>").replace("</td><td", "</th><td")
    return f"<table>{'<tr>' + h + '</tr>' if h else ''}{body}</table>"


def _summary(rep: dict) -> str:
    n = rep["samples"]
    exact = rep["bit_exact"] == n
    c = rep["counter"]
    cards = [
        ("bit-exact vs reference", f"<span class='{'ok' if exact else 'bad'}'>{num(rep['bit_exact'])} / {num(n)}</span>"),
        ("accuracy, device", pct(rep.get("accuracy_device"))),
        ("accuracy, float model", pct(rep.get("accuracy_float"))),
        ("top-1 agreement with float", pct(rep.get("agreement_float"))),
        (f"per inference ({_e(c)}, median)", num(rep["count_per_inference"])),
        ("flash used", f"{num(rep['flash_bytes'])} B"),
        ("RAM used", f"{num(rep['ram_bytes'])} B"),
    ]
    t = rep.get("throughput") or {}
    rows = [
        ["board", f"{_e(rep['board'])}{' (emulated: QEMU)' if rep.get('emulated') else ''}"],
        ["data", f"{_e(rep['data'])}, {num(n)} samples" + (f" ({num(rep['resumed_samples'])} from an earlier run)"
                                                          if rep.get("resumed_samples") else "")],
        ["model hash", f"<code>{_e(rep.get('model_hash', ''))[:16]}</code>"],
        ["counter", f"<code>{_e(c)}</code>: {_e(COUNTERS.get(c, ''))}"],
        ["per inference", (f"{num(rep['count_per_inference'])} {_e(c)} (median; min {num(rep['count_per_inference_min'])}, "
                          f"max {num(rep['count_per_inference_max'])})")],
        ["flash", (f"{num(rep['flash_bytes'])} of {num(rep['board_flash_bytes'])} bytes "
                  f"({pct(rep['flash_bytes'] / rep['board_flash_bytes'], 1)})")],
        ["RAM", (f"{num(rep['ram_bytes'])} of {num(rep['board_ram_bytes'])} bytes ({pct(rep['ram_bytes'] / rep['board_ram_bytes'], 1)}); "
                f"arena {num(rep['arena_bytes'])} B, stack peak {num(rep['stack_peak_bytes'])} B")],
    ]
    if t.get("samples_per_s"):
        rows.append(["throughput", (f"{num(t['samples_per_s'])} samples/s ({num(t['samples'])} samples in "
                                   f"{num(t['seconds'])} s)")])
    cards_html = "".join(f"<div class='card'><div class='v'>{v}</div><div class='k'>{k}</div></div>" for k, v in cards)
    return f"<div class='cards'>{cards_html}</div>" + _table(None, rows)


def _metrics(rep: dict) -> str:
    rows = []
    for key, label, meaning in METRICS:
        v = rep.get(key)
        if key == "bit_exact":
            shown = f"{num(v)} / {num(rep['samples'])} ({pct(v / rep['samples'] if rep['samples'] else None)})"
        elif key.startswith(("accuracy", "agreement")):
            shown = pct(v)
        elif key == "cos":
            shown = "&ndash;" if v is None else f"{v:.6f}"
        else:
            shown = num(v)
        rows.append([_e(label), shown, _e(meaning)])
    return _table(["metric", "value", "what it means"], rows, {1})


def _confusion(m: list[list[int]] | None) -> str:
    if not m:
        return "<p class='note'>no labels given: no confusion matrix</p>"
    top = max(max(r) for r in m) or 1
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{j}</th>" for j in range(len(m))) + "<th>recall</th></tr>"
    rows = []
    for i, row in enumerate(m):
        tot = sum(row)
        tds = "".join(f"<td class='{'diag' if i == j else ''}' style='background:rgba(74,127,181,{0.85 * v / top:.2f})'>"
                      f"{num(v)}</td>" for j, v in enumerate(row))
        rows.append(f"<tr><th>{i}</th>{tds}<td>{pct(row[i] / tot, 1) if tot else '&ndash;'}</td></tr>")
    return (f"<table class='cm'>{head}{''.join(rows)}</table><p class='note'>rows: the label; columns: the "
            "device's top-1 class; the diagonal counts correct answers; recall = correct / samples of that class.</p>")


def _layers(rep: dict) -> str:
    layers = rep.get("layers") or []
    if not layers:
        return "<p class='note'>no per-layer counts</p>"
    c = rep["counter"]
    top = max(max(r.get("count") or 0, r.get("estimated_cycles") or 0) for r in layers)
    total = sum(r.get("count") or 0 for r in layers)
    has_est = any(r.get("estimated_cycles") for r in layers)
    rows = []
    for r in layers:
        cnt, est = r.get("count") or 0, r.get("estimated_cycles")
        bars = _bar(cnt, top) + ("<br>" + _bar(est or 0, top, "est") if has_est else "")
        row = [_e(r["name"]), num(cnt), pct(cnt / total, 1) if total else "&ndash;"]
        if has_est:
            row += [num(est), f"{cnt / est:.2f}" if est else "&ndash;"]
        rows.append([*row, bars])
    head = ["layer", f"{_e(c)} (median)", "share"]
    if has_est:
        head += ["estimated_cycles", f"{_e(c)} / estimate"]
    note = (f"<p class='note'>Dark bars: <code>{_e(c)}</code>, {_e(COUNTERS.get(c, 'as counted on the board'))}, "
            "between the layer hooks (the median over all samples).")
    if has_est:
        note += (" Light bars: <code>estimated_cycles</code>, the Cortex-M4 timing model (TRM instruction timings, "
                 "zero-wait memory) over the same engine: an estimate, not a measurement.")
    elif rep.get("estimated_cycles_note"):
        note += f" No estimate: {_e(rep['estimated_cycles_note'])}."
    return _table(head, rows, {1, 2, 3, 4} if has_est else {1, 2}) + note + "</p>"


def _memory(rep: dict) -> str:
    mm = rep.get("memory") or {}
    if not mm:
        return "<p class='note'>no linker map: no memory breakdown</p>"
    out = []
    for region, title in (("flash", "Flash"), ("ram", "RAM")):
        m = mm[region]
        top = max(r["bytes"] for r in m["rows"]) or 1
        rows = [[_e(r["part"]), num(r["bytes"]), pct(r["bytes"] / m["limit"], 2), _bar(r["bytes"], top)] for r in m["rows"]]
        fill = m["total_linked"] - sum(r["bytes"] for r in m["rows"])
        if fill:
            rows.append(["alignment and fill between sections", num(fill), pct(fill / m["limit"], 2), ""])
        rows.append(["<b>total linked</b>", f"<b>{num(m['total_linked'])}</b>", pct(m["total_linked"] / m["limit"], 1),
                     f"of {num(m['limit'])} B on the board"])
        out.append(f"<h3>{title}</h3>" + _table(["part", "bytes", "of the board", ""], rows, {1, 2}))
        if region == "flash":
            w = [r for r in m["weights_by_layer"] if r["bytes"]]
            wt = max((r["bytes"] for r in w), default=1)
            out.append("<h3>Weights by layer (flash)</h3>" + _table(
                ["layer", "bytes", ""], [[_e(r["layer"]), num(r["bytes"]), _bar(r["bytes"], wt)] for r in w], {1}))
        else:
            out[-1] = out[-1].replace("</table>", f"<tr><td>stack, measured peak (within the reserved stack)</td>"
                                      f"<td class='n'>{num(m.get('stack_peak'))}</td><td class='n'>"
                                      f"{pct((m.get('stack_peak') or 0) / m['limit'], 2)}</td><td></td></tr></table>")
            out.append(f"<p class='note'>Stack: measured peak {num(m.get('stack_peak'))} B (the deepest any sample reached, "
                       f"from the painted stack), reserved minimum as listed. Arena planned by the compiler: "
                       f"{num(m.get('arena_planned'))} B.</p>")
    out.append(f"<p class='note'>From the {_e(mm.get('source', 'linker map'))}: sizes as linked, alignment included.</p>")
    return "".join(out)


def _link(rep: dict) -> str:
    lk = rep.get("link") or {}
    t = rep.get("throughput") or {}
    labels = [("retries", "retries"), ("timeouts", "timeouts"), ("bad_frames", "bad frames"), ("stale", "stale replies"),
              ("reconnects", "reconnects"), ("resets", "device resets")]
    rows = [[lab, num(lk.get(k))] for k, lab in labels]
    if t:
        rows += [["bytes to the device", num(t.get("bytes_to_device"))], ["bytes from the device", num(t.get("bytes_from_device"))]]
        if t.get("bytes_per_s"):
            pace = "" if t.get("paced_by_baud") else " (QEMU's UART is not paced by the baud rate)"
            rows.append(["wire rate, busier direction", (f"{num(t['bytes_per_s'])} B/s = {pct(t['fraction_of_bound'], 1)} "
                                                        f"of the {num(t['baud_bound_bytes_per_s'])} B/s a {num(t['baud'])}-baud "
                                                        f"8N1 UART carries{pace}")])
    return _table(None, rows, {1}) + f"<p class='note'>{LINK_NOTE}</p>"


def _diff(rep: dict) -> str:
    d = rep.get("layer_diff")
    if not d:
        return ""
    f = d["first_differing_layer"]
    head = f"<h2>Layer-by-layer diff (sample {num(d['sample'])})</h2>"
    if d.get("unavailable"):
        return head + f"<p class='note'>Not compared: {_e(d['unavailable'])}.</p>"
    if f is None:
        return head + f"<p class='ok'>All {num(d['layers'])} layers equal the reference byte for byte.</p>"
    rows = [[", ".join(map(str, p["at"])), num(p["device"]), num(p["reference"]), num(p["device"] - p["reference"])]
            for p in f["positions"]]
    pos = {"HWC": "position (h, w, c)", "CHW": "position (c, h, w)"}.get(f["layout"], "index")
    before = {0: "it is the first layer", 1: "layer 0 equals the reference"}.get(
        f["index"], f"layers 0 to {f['index'] - 1} equal the reference")
    return (head + f"<p class='bad'>First differing layer: {f['index']} <code>{_e(f['name'])}</code> ({_e(f['kind'])}, "
            f"{_e(f['layout'])} {'&times;'.join(map(str, f['shape']))}): {num(f['differing'])} of {num(f['of'])} values "
            f"differ, max |difference| {num(f['max_abs_diff'])}.</p><p class='note'>{before[0].upper()}{before[1:]}, so "
            "the fault is in this layer's kernel or its parameters, not upstream. The first "
            f"{len(rows)} differing positions:</p>" + _table([pos, "device", "reference", "difference"], rows, {1, 2, 3}))


def validation_page(title: str, rep: dict) -> str:
    """The whole report of ``validate`` (its JSON report ``rep``) as HTML."""
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head><body>
<h1>{_e(title)}</h1><div class="sub">mcudeploy validation report, {when}</div>
<h2>Summary</h2>{_summary(rep)}
<h2>Accuracy and agreement</h2>{_metrics(rep)}
<h2>Confusion matrix (device)</h2>{_confusion(rep.get("confusion_matrix"))}
<h2>Per-layer latency</h2>{_layers(rep)}
<h2>Memory map</h2>{_memory(rep)}
<h2>Link</h2>{_link(rep)}
{_diff(rep)}
</body></html>
"""


def render(title: str, summary: dict, layers: list[dict], counter: str, confusion=None) -> str:
    """A generic page: a summary table, per-layer counts and a confusion matrix (formatted)."""
    rows = [[_e(k), num(v) if not isinstance(v, str) else _e(v)] for k, v in summary.items()
            if not isinstance(v, (list, dict))]
    rep = {"layers": layers, "counter": counter}
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head><body>
<h1>{_e(title)}</h1>{_table(None, rows, {1})}
<h2>Per-layer latency ({_e(counter)})</h2>{_layers(rep)}
<h2>Confusion matrix (device)</h2>{_confusion(confusion)}
</body></html>
"""
