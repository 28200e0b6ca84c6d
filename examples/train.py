"""Train an example model and save its state_dict.

    python examples/train.py lenet5 --data mnist --epochs 6 -o lenet5.pt
    python examples/train.py resnet_small --data fashion-mnist --epochs 2 --limit 20000 -o rs.pt

Prints the loss per epoch, the held-out (``test`` split) accuracy and the training time. The
weights load with ``mcudeploy compile examples/NAME.py:NAME --weights OUT``.
"""

import argparse
import sys
import time

import torch
from mcudeploy import datasets
from mcudeploy.errors import McdError
from mcudeploy.train import RECIPES, evaluate, example_factory, train_classifier


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="example name: " + ", ".join(RECIPES))
    ap.add_argument("--data", help="data set (default: the example's recipe)",
                    choices=datasets.list_datasets())
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True, help="where to write the state_dict (.pt)")
    args = ap.parse_args()
    r_data, r_epochs, _ = RECIPES.get(args.model, ("mnist", 3, None))
    data, epochs = args.data or r_data, args.epochs or r_epochs
    try:
        x, y = datasets.load(data, "train", limit=args.limit)
        xt, yt = datasets.load(data, "test")
    except McdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    torch.manual_seed(args.seed)
    model = example_factory(args.model)()
    print(f"{args.model} on {data} ({datasets.source(data)}): {len(y)} train, {len(yt)} test samples")
    t0 = time.perf_counter()
    train_classifier(model, x, y, epochs=epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                     callback=lambda e, loss, m: print(f"  epoch {e + 1}/{epochs}: loss {loss:.4f}"))
    seconds = time.perf_counter() - t0
    acc = evaluate(model, xt, yt)
    torch.save(model.state_dict(), args.output)
    print(f"held-out accuracy {acc * 100:.2f} % ({len(yt)} test samples), "
          f"training {seconds:.1f} s; saved {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
