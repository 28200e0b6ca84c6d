"""``mcudeploy compile``: thin wrapper over ``pipeline.compile_model``."""

import click

from .. import progress
from ..boards import load_board
from ..pipeline import compile_model
from ..report import table, write_json


@click.command("compile")
@click.argument("model")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="state_dict file (torch.save) for a FILE.py:FACTORY model; loaded with weights_only=True.")
@click.option("--calib", metavar="DATA",
              help="calibration samples: an .npz with 'x' (N x C x H x W float) or a built-in data set "
                   "(digits, mnist, fashion-mnist; its train split is used). Required for a PyTorch model; "
                   "an int8 .tflite carries its quantization (DATA, if given, only feeds the host check).")
@click.option("--rounding", type=click.Choice(["litert", "double", "single"]), default=None,
              help="requantization rounding: single (TFLite's single rounding; the default for PyTorch "
                   "models), double (gemmlowp's, CMSIS-NN's default), litert (as LiteRT's reference kernels: "
                   "double, single in fully-connected layers; the default for a .tflite, bit-exact with them).")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="project directory to write; an existing one is replaced only if it is empty or a project "
                   "mcudeploy wrote (its .mcudeploy-manifest.json covers every file outside firmware/, bench/, "
                   "validate/); otherwise the command refuses and names the other files.")
@click.option("--calib-limit", default=500, show_default=True, help="calibration samples to use.")
@click.option("--no-host-check", is_flag=True, help="skip compiling the engine with the host C compiler "
              "and checking it against the numpy reference on 64 calibration samples.")
@click.option("--weights-format", type=click.Choice(["auto", "dense", "sparse", "ternary", "int4", "ternary_sparse"]),
              default="auto",
              show_default=True,
              help="how conv/linear weights are stored: auto picks per layer by a cost model (estimated "
                   "cycles, then bytes); sparse keeps only non-zeros with one index byte each; ternary "
                   "and int4 pack 2 or 4 bits a weight, for layers whose int8 weights fit (from "
                   "`compress --weight-bits`); ternary_sparse (fully-connected layers with pruned ternary "
                   "weights) keeps one gap byte a non-zero and adds instead of multiplying.")
@click.option("--layer-format", multiple=True, metavar="LAYER=FORMAT",
              help="override the format of one layer, e.g. --layer-format conv1=dense (repeatable).")
@click.option("--board", "-b", metavar="BOARD",
              help="refuse within seconds, before the engine is written, a model that cannot fit this board "
                   "(a name from `mcudeploy boards` or a board file .toml); `build` checks again exactly.")
@click.option("--strict", is_flag=True, help="calibration warnings (fewer than 32 samples, constant input, "
              "clipped outputs) are errors: exit 2, nothing written.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the report here.")
def compile_cmd(model, weights, calib, outdir, calib_limit, no_host_check, json_path, weights_format="auto",
                layer_format=(), board=None, strict=False, rounding=None):
    """Compile MODEL to a standalone int8 C engine in a project directory.

    MODEL is FILE.py:FACTORY (a class or function returning an nn.Module; give --weights), a
    torch.export archive (.pt2), or an int8 .tflite (its weights, scales and zero points are kept
    as they are; no --calib; data for it is float N x C x H x W, quantized with its input scale). BatchNorm is folded, ReLU and max-pool fused into the conv
    before them, weights quantized int8 per channel and activations int8 per tensor, calibrated
    on DATA. OUTDIR/engine/ compiles with any C99 compiler; OUTDIR/report.json has the figures.
    Calibration problems are printed as `warning:` lines and recorded in report.json.
    """
    b = load_board(board) if board else None  # a bad board file is refused before the model is loaded
    if str(model).lower().endswith(".tflite"):
        if weights or layer_format or weights_format != "auto":
            raise click.UsageError("--weights, --weights-format and --layer-format do not apply to a .tflite model")
        from ..tflite_pipeline import compile_tflite

        res = compile_tflite(model, outdir, rounding or "litert", calib, not no_host_check, b, calib_limit)
        _print(res.report, res.outdir, json_path)
        return
    if not calib:
        raise click.UsageError("--calib DATA is required for a PyTorch model (an .npz with 'x', or digits, "
                               "mnist, fashion-mnist)")
    if rounding == "litert":
        raise click.BadParameter("'litert' applies to an imported .tflite; use single or double",
                                 param_hint="--rounding")
    fmt: str | dict = weights_format
    if layer_format:
        fmt = {}
        for item in layer_format:
            name, _, f = item.partition("=")
            if f not in ("auto", "dense", "sparse", "ternary", "int4", "ternary_sparse"):
                raise click.BadParameter(f"'{item}': expected LAYER=auto|dense|sparse|ternary|int4|ternary_sparse",
                                         param_hint="--layer-format")
            fmt[name] = f
        fmt = _Formats(fmt, weights_format)
    with progress.task(f"compile {model}"):
        res = compile_model(model, weights, calib, outdir, calib_limit, not no_host_check, fmt, board=b, strict=strict,
                            rounding=rounding or "single")
    _print(res.report, res.outdir, json_path)


def _print(r: dict, outdir, json_path) -> None:
    rows = [dict(row, output_shape="x".join(map(str, row["output_shape"]))) for row in r["layers"]]
    click.echo(table(rows, [("name", "layer"), ("op", "op"), ("output_shape", "output (HxWxC)"),
                            ("macs", "MACs"), ("nonzeros", "non-zeros"), ("format", "format"),
                            ("weight_bytes", "weight bytes")],
                     footer={"name": "total", "macs": r["macs"], "nonzeros": r["nonzeros"],
                             "weight_bytes": r["weight_bytes"]}))
    click.echo(f"\nparams {r['params']:,} (sparsity {100 * r['sparsity']:.1f}%) | weights+indices+bias+requant "
               f"{r['weight_bytes']:,} B (float32 params {r['float32_param_bytes']:,} B)")
    click.echo(f"footprint {r['footprint_bytes']:,} B (weights + arena) vs float32 {r['float32_bytes']:,} B: "
               f"{r['compression_ratio']}x smaller")
    click.echo(f"activation arena {r['arena_bytes']:,} B (no reuse: {r['arena_naive_bytes']:,} B; "
               f"two ping-pong buffers of the largest activation: {r['arena_pingpong_bytes']:,} B)")
    if "host_check" in r:
        hc = r["host_check"]
        click.echo(f"host check: {hc['bit_exact']}/{hc['samples']} {hc.get('inputs', 'calibration')} samples "
                   "bit-exact with the reference")
    click.echo(f"wrote {outdir}/ (engine/, graph.json, report.json, "
               f"{'model.tflite' if 'rounding' in r else 'model_float.pt2'})")
    if json_path:
        write_json(json_path, r)


class _Formats(dict):
    """Per-layer formats with a default for the layers not named."""

    def __init__(self, named: dict, default: str):
        super().__init__(named)
        self.default = default

    def get(self, key, _default=None):
        return super().get(key, self.default)


COMMANDS = [compile_cmd]
