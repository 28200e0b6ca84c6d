"""``mcudeploy compress``: thin wrapper over ``compress.compress_file``."""

import click

from .. import progress
from ..compress import compress_file
from ..errors import McdError
from ..report import table, write_json
from .params import FiniteFloat, budget_tuning, budget_tuning_options, tuning_flags


@click.command("compress")
@click.argument("model")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="state_dict file (torch.save) for a FILE.py:FACTORY model.")
@click.option("--data", required=True, metavar="DATA",
              help="built-in data set (digits, mnist, fashion-mnist: train split fine-tunes, test split "
                   "measures) or an .npz with x and y to fine-tune on (then give --eval-data).")
@click.option("--eval-data", metavar="DATA", help="held-out labelled samples (.npz or built-in name); "
              "default: DATA's test split.")
@click.option("--sparsity", type=FiniteFloat(0, 1, max_open=True),
              help="fraction of conv/linear weights to zero; with --structured, of channels to remove "
                   "from every prunable group.")
@click.option("--layer-sparsity", multiple=True, metavar="LAYER=S",
              help="with --sparsity (unstructured): prune LAYER to fraction S (repeatable, e.g. "
                   "--layer-sparsity conv1=0.7 to prune where the cycles are); the other layers "
                   "share the global threshold that keeps the total at --sparsity.")
@click.option("--max-accuracy-drop", type=FiniteFloat(0), metavar="POINTS",
              help="instead of --sparsity: the highest sparsity whose top-1 loss stays within POINTS "
                   "(percentage points), judged on half of the held-out data and reported on the other.")
@click.option("--structured", is_flag=True,
              help="remove whole filters/channels (the model really shrinks: fewer MACs and bytes) "
                   "instead of zeroing single weights. Needs FILE.py:FACTORY, not a .pt2.")
@click.option("--scope", type=click.Choice(["global", "layer"]),
              help="one magnitude threshold over all layers (default unstructured) or the same "
                   "fraction in every layer (default structured).")
@click.option("--weight-bits", type=click.Choice(["2", "4", "8"]), default="8", show_default=True,
              help="2: ternary weights ({-1, 0, +1} x a per-channel scale, TWN threshold), 4: int4 per "
                   "channel; quantization-aware fine-tuning (straight-through estimator) after any "
                   "pruning; the compiler then stores them packed. 8: int8, no change.")
@click.option("--steps", type=click.IntRange(1), default=3, show_default=True,
              help="prune + fine-tune rounds to reach --sparsity (unstructured).")
@click.option("--epochs", type=click.IntRange(0), default=2, show_default=True, help="fine-tuning epochs per round (0: none).")
@click.option("--lr", type=FiniteFloat(0, min_open=True), default=1e-3, show_default=True, help="fine-tuning learning rate (Adam, cosine).")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="use only the first N training samples.")
@click.option("--eval-limit", type=click.IntRange(1), help="use only the first N held-out samples.")
@click.option("--finetune-hook", metavar="FILE.py:FUNC",
              help="your own training code instead of the built-in loop: FUNC(model, masks) trains "
                   "the model in place (masks stay applied: pruned weights are zeroed before every "
                   "forward) and may return it.")
@click.option("--adaptive-bn", is_flag=True,
              help="re-estimate BatchNorm statistics of every pruned candidate on 512 training samples "
                   "before judging or fine-tuning it (Combine-Net).")
@click.option("--knee", is_flag=True,
              help="instead of --sparsity: sweep the rate 0.10..0.95, prune without fine-tuning, and take "
                   "the Kneedle knee of accuracy (half of the held-out data) against rate; prints the curve.")
@click.option("--distill", is_flag=True,
              help="fine-tune (with --budget: the whole gate schedule) against the dense model's soft outputs "
                   "(KL at a temperature, x T^2) mixed with the labels' cross-entropy.")
@click.option("--distill-temperature", type=FiniteFloat(0, min_open=True), default=4.0, show_default=True,
              help="softmax temperature T of the distillation.")
@click.option("--distill-alpha", type=FiniteFloat(0, 1), default=0.7, show_default=True,
              help="weight of the distillation term (1 - alpha on the labels).")
@click.option("--budget", "budget_text", metavar="ram=B,flash=B,cycles=N",
              help="with --structured: learn which channels to remove (per-channel gates, task loss + a "
                   "penalty from the memory planner's peak arena, the stored weight bytes and the cycle "
                   "model) until the model meets these limits, e.g. ram=24KB,flash=96KB,cycles=2M (any "
                   "subset; ram = activation arena, flash = engine flash, cycles = est. Cortex-M4 cycles). "
                   "The result is compiled, built and benched; the command fails if it misses.")
@click.option("--board", "budget_board", metavar="BOARD",
              help="with --structured: budget RAM and flash to what BOARD leaves after the firmware's own "
                   "code, stack and buffers (measured on a build); combines with --budget (the tighter wins).")
@budget_tuning_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="the pruned model, a torch.export archive (.pt2) for `mcudeploy compile`.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the report here.")
def compress_cmd(model, weights, data, eval_data, sparsity, layer_sparsity, max_accuracy_drop, structured, scope,
                 weight_bits, steps, epochs, lr, batch_size, limit, eval_limit, finetune_hook, adaptive_bn, knee,
                 distill, distill_temperature, distill_alpha, budget_text, budget_board, gate_frac, refill, min_width_frac,
                 output, json_path):
    """Prune MODEL and fine-tune it; write the pruned model as a .pt2 that `compile` accepts.

    MODEL is FILE.py:FACTORY (with --weights) or a .pt2 archive. Unstructured pruning zeroes the
    smallest conv and linear weights (stored sparse by the compiler); --structured removes whole
    channels, following residual adds and concats so every layer stays consistent.
    """
    tuning = budget_tuning(gate_frac, refill, min_width_frac)
    if budget_text is not None or budget_board:
        return _budget(model, weights, data, eval_data, sparsity, max_accuracy_drop, knee, structured, budget_text,
                       budget_board, epochs, lr, batch_size, limit, eval_limit, output, json_path,
                       distill=distill, distill_temperature=distill_temperature, distill_alpha=distill_alpha, **tuning)
    if tuning:
        raise McdError(f"{tuning_flags(tuning)} tune budget-driven pruning: add --structured --budget ... (or --board)")
    chosen = (sparsity is not None) + (max_accuracy_drop is not None) + knee
    if chosen > 1 or (chosen == 0 and weight_bits == "8"):
        raise McdError("give exactly one of --sparsity, --max-accuracy-drop or --knee (or --weight-bits 2|4 alone)")
    per_layer = {}
    for item in layer_sparsity:
        name, sep, val = item.partition("=")
        try:
            per_layer[name.strip()] = float(val)
        except ValueError:
            sep = ""
        if not sep or not 0 <= per_layer.get(name.strip(), -1) < 1:
            raise click.BadParameter(f"'{item}': expected LAYER=S with 0 <= S < 1", param_hint="--layer-sparsity")
    with progress.task(f"compress {model}"):
        res = compress_file(model, weights, data, output, eval_data=eval_data, limit=limit,
                            eval_limit=eval_limit, hook=finetune_hook, sparsity=sparsity,
                            max_accuracy_drop=max_accuracy_drop, structured=structured, scope=scope,
                            steps=steps, epochs=epochs, lr=lr, batch_size=batch_size,
                            layer_sparsity=per_layer or None, weight_bits=int(weight_bits),
                            log=progress.echo, adaptive_bn=adaptive_bn, knee=knee,
                            distill=distill, distill_temperature=distill_temperature, distill_alpha=distill_alpha)
    r = res.report
    if "knee" in r:
        k = r["knee"]
        click.echo(table([{"rate": f"{c['rate']:.2f}", "accuracy": f"{c['accuracy']:.2f} %",
                           "knee": "<- knee" if i == k["index"] else ""} for i, c in enumerate(k["curve"])],
                         [("rate", "rate"), ("accuracy", "top-1 (no fine-tuning)"), ("knee", "")]))
        click.echo(f"knee (Kneedle) at rate {k['rate']:.2f}; judged on {k['judged_on']}\n")
    def shape(row):
        now = "x".join(map(str, row["shape"]))
        return f"{'x'.join(map(str, row['shape_before']))} -> {now}" if "shape_before" in row else now

    rows = [dict(row, shape=shape(row), sparsity=f"{100 * row['sparsity']:.1f} %") for row in r["layers"]]
    cols = [("name", "layer"), ("shape", "weight shape"), ("params", "weights"),
            ("nonzeros", "non-zeros"), ("sparsity", "sparsity")]
    t = r["total"]
    click.echo(table(rows, cols, footer={"name": "total", "params": t["params"], "nonzeros": t["nonzeros"],
                                         "sparsity": f"{100 * t['sparsity']:.1f} %"}))
    a = r["accuracy"]
    if a.get("before") is not None:
        click.echo(f"\ntop-1 accuracy (float, {r['test_samples']} held-out samples): {a['before']:.2f} % "
                   f"-> {a['after']:.2f} % ({-a['drop_points']:+.2f} points)")
    if "unseen_after" in a and "knee" in r:
        click.echo(f"  the knee was chosen on half of them; the other half, unseen by the choice: "
                   f"{a['unseen_before']:.2f} % -> {a['unseen_after']:.2f} %")
    elif "unseen_after" in a:
        click.echo(f"  search judged on half of them; the other half, unseen by the search: "
                   f"{a['unseen_before']:.2f} % -> {a['unseen_after']:.2f} %; chosen level "
                   f"{r['search']['level']:.4f}")
    if "pruned" in a:
        click.echo(f"  after pruning, before low-bit weights: {a['pruned']:.2f} %")
    if r.get("lowbit"):
        kinds = {1: "ternary", 7: "int4"}
        click.echo("low-bit weights: " + ", ".join(f"{row['name']} {kinds.get(row['levels'], 'not low-bit')} "
                                                   f"({100 * row['zeros']:.0f} % zeros)" for row in r["lowbit"]))
    if r.get("macs_nonzero"):
        click.echo(f"MACs {r['macs_after']:,} dense, {r['macs_nonzero']:,} on non-zero weights")
    elif r.get("macs_before"):
        click.echo(f"MACs {r['macs_before']:,} -> {r['macs_after']:,} (-{100 * r['macs_reduction']:.1f} %), "
                   f"params {r['params_before']:,} -> {r['params_after']:,} "
                   f"(-{100 * r['params_reduction']:.1f} %)")
    click.echo(f"wrote {output} in {r['seconds']:.1f} s; next: mcudeploy compile {output} --calib DATA -o DIR")
    if json_path:
        write_json(json_path, r)


def _budget(model, weights, data, eval_data, sparsity, max_accuracy_drop, knee, structured, budget_text, board,
            epochs, lr, batch_size, limit, eval_limit, output, json_path, **distill_args):
    """``--budget`` / ``--board``: budget-driven structured pruning, checked on the built firmware."""
    from ..compress.budget import Budget, parse_budget
    from ..compress.budget_run import BudgetMissedError, budget_file, missed_message

    budget = parse_budget(budget_text) if budget_text is not None else Budget()
    if not structured:
        raise McdError("--budget and --board choose which channels to remove: add --structured")
    if sparsity is not None or max_accuracy_drop is not None or knee:
        raise McdError("--budget/--board decide how much to prune: drop --sparsity, --max-accuracy-drop and --knee")
    res = budget_file(model, weights, data, output, budget, board=board, eval_data=eval_data, limit=limit,
                      eval_limit=eval_limit, epochs=epochs if epochs > 0 else 1, lr=lr, batch_size=batch_size,
                      log=lambda s: click.echo(s, err=True), **distill_args)
    r = res.report
    rows = [{"resource": x["resource"], "unit": x["unit"], "budget": f"{x['budget']:,}", "estimate": f"{x['estimate']:,}",
             "measured": f"{x['measured']:,}", "dense": f"{x['dense']:,}", "met": "yes" if x["met"] else "NO"}
            for x in r["resources"]]
    click.echo(table(rows, [("resource", "resource"), ("unit", "unit"), ("budget", "budget"), ("estimate", "estimate"),
                            ("measured", "measured"), ("dense", "dense (measured)"), ("met", "met")]))
    click.echo("groups: " + ", ".join(f"{'+'.join(g['producers'])} {g['channels_before']}->{g['channels_after']}"
                                      for g in r["channel_groups"] if g["prunable"]))
    a = r["accuracy"]
    if a.get("before") is not None:
        click.echo(f"top-1 accuracy (float, held-out): {a['before']:.2f} % -> {a['after']:.2f} % "
                   f"({-a['drop_points']:+.2f} points)")
    if json_path:
        write_json(json_path, r)
    if not r["met"]:
        raise BudgetMissedError(missed_message(r))
    click.echo(f"wrote {output} in {r['seconds']:.1f} s (measured on {r['measured_on']})")


COMMANDS = [compress_cmd]
