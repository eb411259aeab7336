"""An epoch of `fit` on arrays against PyTorch (issue 26 goal 3): the same model, data,
optimizer and batch size, on one CPU thread each.

    PYTHONPATH=. python benchmarks/fit_epoch.py            # the table (a minute or two)
    PYTHONPATH=. python benchmarks/fit_epoch.py --quick    # a smoke run

Two cases:
(a) the README's matrix 2-2-1 MLP on XOR (examples/xor-mlp-matrix.txt, examples/xor.csv:
    30 training rows, 10 validation rows, batches of 8, Adam lr 0.1);
(b) a 2-layer MLP, 20 inputs, 32 relu hidden units, one output, squared error, on 10,000
    synthetic rows (seeded: x ~ U(-1, 1)^20, y = tanh(a·x) + noise), batches of 32, Adam
    lr 0.01, no validation.

An epoch is what `fit` does per epoch: a new shuffle, one update per mini-batch (loss the
mean over the batch), then the loss (and accuracy, for (a)) over the training rows and the
validation rows at the epoch's parameters. PyTorch does the same: float64 (ours is float64),
`torch.optim.Adam` with the same betas and eps, the same starting parameters as ours (copied
from fit's ``init``), the evaluation under ``torch.no_grad()``. Ours is timed by fit's own
``progress`` callback (one call per epoch; the first epoch, which also parses and checks the
graph, is dropped); theirs by the same clock around each epoch. "per row" is fit as it was
before batching (learn/array_model.BATCHED = False: one forward and one backward pass per
row); "batched" one pass per mini-batch. Both sides run single-threaded: OMP, OpenBLAS and
MKL threads are set to 1 before numpy and torch load, and ``torch.set_num_threads(1)``.
Rounds alternate ours and theirs so that the load of a shared machine falls on both; the
figures are medians of the epochs of every round (30 epochs a round for (a), 6 for (b);
per row: 3 epochs of one round for (b)), the ratio ours / torch per epoch; the last
column is the ratio of the fastest epochs, the one least disturbed by other processes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy and torch load their BLAS

import argparse  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backprop_cli.learn import array_model  # noqa: E402
from backprop_cli.learn.fit import Dataset, fit, read_csv  # noqa: E402

XOR_MODEL = (ROOT / "examples" / "xor-mlp-matrix.txt").read_text()
MLP_MODEL = "h = relu(W1 @ x + b1); yhat = dot(w2, h) + b2; loss = (yhat - y)^2"
FEATURES, HIDDEN = 20, 32


def synthetic(rows: int, seed: int = 0) -> Dataset:
    rng = random.Random(seed)
    a = [rng.gauss(0, 1) / FEATURES**0.5 for _ in range(FEATURES)]
    table = []
    for _ in range(rows):
        x = [rng.uniform(-1, 1) for _ in range(FEATURES)]
        y = math.tanh(sum(p * q for p, q in zip(a, x))) + rng.gauss(0, 0.05)
        table.append([*x, y])
    return Dataset([f"x{k + 1}" for k in range(FEATURES)] + ["y"], table)


CASES: dict[str, dict[str, Any]] = {
    "(a) XOR 2-2-1 MLP (README)": dict(
        model=XOR_MODEL, data=lambda: read_csv(ROOT / "examples" / "xor.csv"),
        args=dict(bind={"x": ["x1", "x2"]}, init="random",
                  shape={"W1": (2, 2), "b1": 2, "w2": 2}, seed=1, optimizer="adam", lr=0.1,
                  batch_size=8, val_split=0.25, predict="yhat", target="y"),
        torch="xor"),
    "(b) 20-32-1 MLP, 10,000 rows": dict(
        model=MLP_MODEL, data=lambda: synthetic(10_000),
        args=dict(bind={"x": [f"x{k + 1}" for k in range(FEATURES)]}, init="random",
                  shape={"W1": (HIDDEN, FEATURES), "b1": HIDDEN, "w2": HIDDEN}, seed=0,
                  optimizer="adam", lr=0.01, batch_size=32),
        torch="mlp"),
}


def ours(case: dict[str, Any], data: Dataset, epochs: int, batched: bool
         ) -> tuple[list[float], Any]:
    """Seconds of each epoch after the first, and the Fit."""
    array_model.BATCHED = batched
    marks: list[float] = []
    result = fit(case["model"], data, epochs=epochs,
                 progress=lambda e, n: marks.append(time.perf_counter()), **case["args"])
    array_model.BATCHED = True
    return [b - a for a, b in itertools.pairwise(marks)], result


def split(data: Dataset, case: dict[str, Any], init: dict[str, Any]
          ) -> tuple[list[list[float]], list[list[float]]]:
    """fit's split of the rows: its seeded shuffle after the initial draws (one per entry of
    each parameter, learn/array_model.initial), the first ceil(val_split * n) held out."""
    rng = random.Random(case["args"]["seed"])
    for _ in range(sum(len(list(_entries(v))) for v in init.values())):
        rng.uniform(-1.0, 1.0)
    order = list(range(len(data)))
    rng.shuffle(order)
    val = case["args"].get("val_split", 0.0)
    n_val = math.ceil(val * len(order)) if val > 0 else 0
    return [data.rows[i] for i in order[n_val:]], [data.rows[i] for i in order[:n_val]]


def _entries(v: Any) -> Any:
    if isinstance(v, list):
        for x in v:
            yield from _entries(x)
    else:
        yield v


def theirs(case: dict[str, Any], data: Dataset, init: dict[str, Any], epochs: int
           ) -> tuple[list[float], float]:
    """Seconds of each epoch after the first, and the last training loss."""
    import torch

    torch.set_num_threads(1)
    train, val = split(data, case, init)
    cols = data.columns
    xs = [cols.index(c) for c in case["args"]["bind"]["x"]]
    yi = cols.index("y")

    def tensors(rows: list[list[float]]) -> tuple[Any, Any]:
        t = torch.tensor(rows, dtype=torch.float64)
        return t[:, xs], t[:, yi]

    x_train, y_train = tensors(train)
    x_val, y_val = tensors(val) if val else (None, None)
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in init.items()}
    opt = torch.optim.Adam(list(p.values()), lr=case["args"]["lr"], betas=(0.9, 0.999),
                           eps=1e-8)
    xor = case["torch"] == "xor"

    def predict(x: Any) -> Any:
        if xor:
            h = torch.sigmoid(x @ p["W1"].T + p["b1"])
            return torch.sigmoid(h @ p["w2"] + p["b2"])
        h = torch.relu(x @ p["W1"].T + p["b1"])
        return h @ p["w2"] + p["b2"]

    def evaluate(x: Any, y: Any) -> tuple[float, float]:
        with torch.no_grad():
            yhat = predict(x)
            loss = float(((yhat - y) ** 2).mean())
            acc = float(((yhat >= 0.5) == (y >= 0.5)).double().mean()) if xor else 0.0
        return loss, acc

    batch = case["args"]["batch_size"]
    gen = torch.Generator().manual_seed(0)
    seconds = []
    last = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(train), generator=gen)
        for lo in range(0, len(train), batch):
            idx = order[lo:lo + batch]
            loss = ((predict(x_train[idx]) - y_train[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        last, _ = evaluate(x_train, y_train)
        if x_val is not None:
            evaluate(x_val, y_val)
        seconds.append(time.perf_counter() - start)
    return seconds[1:], last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    print("| case | batch | epochs timed | per row s/epoch | batched s/epoch | PyTorch s/epoch | "
          "before (per row / torch) | after (batched / torch) | after, fastest epochs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, case in CASES.items():
        data = case["data"]()
        big = len(data) > 1000
        epochs = 3 if args.quick else 6 if big else 30
        per_row: list[float] = []
        batched: list[float] = []
        torch_s: list[float] = []
        for r in range(rounds):
            if r < (1 if big else rounds):  # the per-row fit of 10,000 rows takes seconds
                per_row += ours(case, data, 3 if big else epochs, batched=False)[0]
            b, result = ours(case, data, epochs, batched=True)
            batched += b
            t, torch_loss = theirs(case, data, result.init, epochs)
            torch_s += t
        pr, bt, th = (statistics.median(v) for v in (per_row, batched, torch_s))
        print(f"| {name} | {case['args']['batch_size']} | {len(batched)} | {pr:.4f} | "
              f"{bt:.4f} | {th:.4f} | {pr / th:.1f}x | {bt / th:.2f}x | "
              f"{min(batched) / min(torch_s):.2f}x |", flush=True)
        print(f"<!-- last training loss: ours {result.history[-1].train_loss:.4g}, "
              f"torch {torch_loss:.4g} (different shuffles, same start) -->", flush=True)


if __name__ == "__main__":
    main()
