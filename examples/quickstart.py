"""trackkit quickstart: train a tiny logistic-regression model in plain Python over a small
grid of configs, log every epoch to the local store (./trackkit-runs), then print the runs table.

    python examples/quickstart.py
    trackkit runs quickstart --sort -summary.val_acc
"""

from __future__ import annotations

import itertools
import math
import random

import trackkit


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Two Gaussian blobs in 2-D, labelled 0 and 1."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        centre = 1.0 if label else -1.0
        data.append(([rng.gauss(centre, 1.0), rng.gauss(centre, 1.0)], int(label)))
    return data


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def evaluate(weights: list[float], bias: float, data: list[tuple[list[float], int]]) -> tuple[float, float]:
    loss = correct = 0.0
    for x, y in data:
        p = sigmoid(sum(w * xi for w, xi in zip(weights, x)) + bias)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        correct += (p >= 0.5) == bool(y)
    return loss / len(data), correct / len(data)


def train(run: trackkit.Run) -> None:
    config = run.config
    train_data = make_data(400, seed=config.seed)
    val_data = make_data(200, seed=config.seed + 1)
    rng = random.Random(config.seed)
    weights, bias = [0.0, 0.0], 0.0
    for epoch in range(config.epochs):
        rng.shuffle(train_data)
        for start in range(0, len(train_data), config.batch_size):
            batch = train_data[start : start + config.batch_size]
            grad_w, grad_b = [0.0, 0.0], 0.0
            for x, y in batch:
                error = sigmoid(sum(w * xi for w, xi in zip(weights, x)) + bias) - y
                grad_w = [g + error * xi for g, xi in zip(grad_w, x)]
                grad_b += error
            weights = [w - config.optim.lr * (g / len(batch) + config.optim.weight_decay * w)
                       for w, g in zip(weights, grad_w)]
            bias -= config.optim.lr * grad_b / len(batch)
        train_loss, train_acc = evaluate(weights, bias, train_data)
        val_loss, val_acc = evaluate(weights, bias, val_data)
        run.log({"epoch": epoch, "train/loss": train_loss, "train/acc": train_acc,
                 "val/loss": val_loss, "val/acc": val_acc})
    run.summary["final_weights"] = weights


def main() -> None:
    grid = itertools.product([0.01, 0.1, 1.0], [16, 64])
    for lr, batch_size in grid:
        config = {"optim": {"lr": lr, "weight_decay": 1e-4}, "batch_size": batch_size, "epochs": 8, "seed": 0}
        with trackkit.init(project="quickstart", config=config, tags=["grid"]) as run:
            run.define_metric("val/loss", summary="min")
            train(run)

    api = trackkit.Api()
    runs = api.runs("quickstart", order="-summary.val/acc")
    print(f"\n{len(runs)} runs in project 'quickstart' (store: {api.store.location}), best first:\n")
    print(f"{'run':<10} {'name':<22} {'state':<9} {'optim.lr':>8} {'batch':>5} {'val/loss (min)':>14} {'val/acc':>8}")
    for run in runs:
        print(f"{run.id:<10} {run.name:<22} {run.state:<9} {run.config['optim']['lr']:>8g} "
              f"{run.config['batch_size']:>5} {run.summary['val/loss']:>14.4f} {run.summary['val/acc']:>8.3f}")
    best = runs[0]
    print(f"\nbest: {best.name} ({best.path}); look closer with: trackkit show {best.project}/{best.id}")


if __name__ == "__main__":
    main()
