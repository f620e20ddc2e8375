"""Softmax regression trained with Nesterov momentum in plain numpy: a training function of
your own, `run(config, report)`, that nagexp sweeps like its built-in trainer.

It makes its own data (three noisy Gaussian clusters), trains for `config["epochs"]` epochs,
and reports validation loss and accuracy once an epoch. Its weights, velocity and random state
go with each report (`state=`), so a resumed or retried trial, or a PBT exploit, goes on from
them: `report.restored` is that state, `report.epoch` the epochs it covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSES = 3


def make_data(n: int, features: int, seed: int) -> tuple[np.ndarray, ...]:
    """Train and validation splits of `n` points in three clusters (the same for every trial)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (CLASSES, features))
    y = rng.integers(0, CLASSES, n)
    x = centers[y] + rng.normal(0.0, 1.5, (n, features))
    cut = int(0.8 * n)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def loss_and_grad(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean cross-entropy (plus l2 / 2 * |w|^2), its gradient, and the logits."""
    logits = x @ w
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean() + 0.5 * l2 * (w**2).sum())
    p[np.arange(len(y)), y] -= 1.0
    return loss, x.T @ p / len(y) + l2 * w, logits


def run(config: dict[str, Any], report: Any) -> None:
    x, y, xv, yv = make_data(int(config.get("samples", 600)), int(config.get("features", 20)),
                             int(config.get("data_seed", 0)))  # fmt: skip
    lr, mu, l2 = float(config["lr"]), float(config["momentum"]), float(config.get("l2", 0.0))
    batch = int(config.get("batch_size", 32))
    state = report.restored  # None on a fresh start
    if state is None:
        rng = np.random.default_rng(config["seed"])
        state = {"w": rng.normal(0.0, 0.01, (x.shape[1], CLASSES)), "v": np.zeros((x.shape[1], CLASSES)), "rng": rng}
    w, v, rng = state["w"], state["v"], state["rng"]
    for _epoch in range(report.epoch, config["epochs"]):
        order = rng.permutation(len(y))
        for start in range(0, len(y) - batch + 1, batch):
            rows = order[start : start + batch]
            _, grad, _ = loss_and_grad(w - lr * mu * v, x[rows], y[rows], l2)  # Nesterov: the look-ahead point
            v = mu * v + grad
            w = w - lr * v
        val_loss, _, logits = loss_and_grad(w, xv, yv, 0.0)
        train_loss, _, _ = loss_and_grad(w, x, y, l2)
        metrics = {"val_loss": val_loss, "val_acc": float((logits.argmax(axis=1) == yv).mean()),
                   "train_loss": train_loss}  # fmt: skip
        report(metrics, state={"w": w, "v": v, "rng": rng})
