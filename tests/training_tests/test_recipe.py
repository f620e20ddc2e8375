"""The CIFAR-10 recipe features (airbench's): label smoothing, lookahead weight averaging,
test-time augmentation, per-group lr and weight decay, the whitening stem initialized from the
data, warmup then linear decay. Each is checked against the same run without it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from nagexp.config import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.training.checkpoint import load_checkpoint
from nagexp.training.lookahead import Lookahead, lookahead_decay
from nagexp.training.models import FastNet
from nagexp.training.schedules import lr_values
from nagexp.training.test_time import augmented_logits
from nagexp.training.trainer import train
from tests.conftest import without_timing


def _val_logits(model: torch.nn.Module, x: torch.Tensor, mode: str = "none") -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return augmented_logits(model, x, mode)


def test_label_smoothing_keeps_the_model_from_certainty(digits, small_cfg: TrainConfig) -> None:
    def confidence(cfg: TrainConfig) -> float:
        logits = _val_logits(train(cfg, digits).model, digits.x_val)
        return torch.softmax(logits, 1).max(1).values.mean().item()

    cfg = small_cfg.model_copy(update={"epochs": 4})
    plain = confidence(cfg)
    smoothed = confidence(cfg.model_copy(update={"label_smoothing": 0.3}))
    # smoothing 0.3 over 10 classes trains toward 0.73 on the true class, 0.03 on each other
    assert plain > 0.9
    assert smoothed < 0.8


def test_test_time_augmentation_is_the_mean_over_the_views(digits, small_cfg: TrainConfig) -> None:
    cfg = small_cfg.model_copy(update={"epochs": 1})
    runs = {mode: train(cfg.model_copy(update={"test_time_augment": mode}), digits)
            for mode in ("none", "flip", "flip_translate")}  # fmt: skip
    model = runs["none"].model
    for run in runs.values():  # evaluation only: the same weights trained
        for a, b in zip(run.model.parameters(), model.parameters(), strict=True):
            assert torch.equal(a, b)
    x, y = digits.x_val, digits.y_val
    plain = _val_logits(model, x)
    mirrored = 0.5 * plain + 0.5 * _val_logits(model, x.flip(-1))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    shifts = [padded[..., :8, :8], padded[..., 2:, 2:]]
    translated = torch.stack([0.5 * _val_logits(model, s) + 0.5 * _val_logits(model, s.flip(-1)) for s in shifts])
    by_hand = {"none": plain, "flip": mirrored, "flip_translate": 0.5 * mirrored + 0.5 * translated.mean(0)}
    accuracies = {mode: (logits.argmax(1) == y).sum().item() / len(y) for mode, logits in by_hand.items()}
    for mode, run in runs.items():
        assert run.final["val_acc"] == pytest.approx(accuracies[mode], abs=1e-9)
    # the check above could not tell the modes apart if they agreed on every image
    assert len({round(a, 9) for a in accuracies.values()}) > 1 or not torch.equal(plain, mirrored)
    assert runs["flip"].final["val_loss"] != runs["none"].final["val_loss"]


def test_norm_and_bias_parameters_take_their_own_lr(digits, small_cfg: TrainConfig) -> None:
    """A tiny scale all but freezes the normalization layers' weights and biases; the rest
    (conv and linear weights and biases) still train."""
    cfg = small_cfg.model_copy(update={"epochs": 1, "weight_decay": 0.0})
    torch.manual_seed(cfg.seed)
    from nagexp.registries.models import build_model

    start = build_model(cfg.model, digits.input_shape, digits.num_classes, **cfg.model_arguments())
    start_state = {n: p.detach().clone() for n, p in start.named_parameters()}

    norm_names = {f"{m}.{p}" for m, mod in start.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)
                  for p, _ in mod.named_parameters(recurse=False)}  # fmt: skip
    other_biases = {n for n, p in start.named_parameters() if p.ndim == 1 and n not in norm_names}
    assert norm_names and other_biases  # the model has both kinds

    def moved(trained: torch.nn.Module, names: set[str]) -> float:
        return max((p.detach() - start_state[n]).abs().max().item()
                   for n, p in trained.named_parameters() if n in names)  # fmt: skip

    rest = set(start_state) - norm_names
    plain = train(cfg, digits).model
    scaled = train(cfg.model_copy(update={"norm_bias_lr_scale": 1e-6}), digits).model
    assert moved(plain, norm_names) > 1e-2
    assert moved(scaled, norm_names) < 1e-4
    assert moved(scaled, rest) > 1e-2 and moved(scaled, other_biases) > 1e-3


def test_norm_and_bias_weight_decay_scale(digits, small_cfg: TrainConfig) -> None:
    """Without weight decay on them (scale 0) biases and normalization weights end larger."""
    cfg = small_cfg.model_copy(update={"epochs": 1, "weight_decay": 0.05})
    a = train(cfg, digits).model
    b = train(cfg.model_copy(update={"norm_bias_weight_decay_scale": 0.0}), digits).model
    norms_a = sum(p.norm().item() for m in a.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    norms_b = sum(p.norm().item() for m in b.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    assert norms_b > norms_a  # no decay pulling them to zero


def test_lookahead_sync_moves_the_slow_weights_and_returns_to_them() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    look = Lookahead(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()
    model(torch.randn(8, 2))  # running statistics and the batch counter move
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    look.sync(model, decay=0.75)
    after = model.state_dict()
    for name, value in after.items():
        if value.dtype.is_floating_point:  # parameters and BatchNorm's running statistics alike
            assert torch.allclose(value, before[name] + 0.25 * (trained[name] - before[name]))
            assert torch.equal(look.slow[name], value)
        else:
            assert torch.equal(value, trained[name])
    assert lookahead_decay(0, 100, 0.8) == 0.0
    assert lookahead_decay(50, 100, 0.8) == pytest.approx(0.1)
    assert lookahead_decay(100, 100, 0.8) == pytest.approx(0.8)


def test_lookahead_changes_training_and_resumes_exactly(digits, small_cfg: TrainConfig, tmp_path: Path) -> None:
    # 20 steps an epoch: every 3 steps leaves an epoch's last two steps to the sync at its end
    cfg = small_cfg.model_copy(update={"epochs": 3, "weight_averaging": "lookahead", "lookahead_every": 3,
                                       "lookahead_decay": 0.9})  # fmt: skip
    saved: dict[int, Path] = {}

    def keep(metrics: dict, ckpt) -> None:
        saved[ckpt.epoch] = tmp_path / f"epoch{ckpt.epoch}.pt"
        ckpt.save(saved[ckpt.epoch])

    full = train(cfg, digits, keep)
    plain = train(cfg.model_copy(update={"weight_averaging": "none"}), digits)
    assert [h["train_loss"] for h in full.history] != [h["train_loss"] for h in plain.history]
    at_epoch_ends_only = train(cfg.model_copy(update={"lookahead_every": 10**6}), digits)
    assert [h["train_loss"] for h in full.history] != [h["train_loss"] for h in at_epoch_ends_only.history]
    assert [h["train_loss"] for h in plain.history] != [h["train_loss"] for h in at_epoch_ends_only.history]
    # the checkpoint holds the slow weights, all a resumed run needs
    resumed = train(cfg, digits, resume=load_checkpoint(saved[1]))
    assert without_timing(resumed.history) == without_timing(full.history)
    for a, b in zip(resumed.model.parameters(), full.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_whitening_stem_whitens_the_training_patches(digits) -> None:
    torch.manual_seed(0)
    net = FastNet(digits.input_shape, digits.num_classes)
    images = digits.x_train[:500]
    net.init_from_data(images)
    stem = net[0]
    assert not stem.weight.requires_grad
    c = images.shape[1]
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, c * 4)
    half = stem.weight.shape[0] // 2
    responses = patches @ stem.weight[:half].reshape(half, -1).T
    covariance = responses.T @ responses / len(responses)
    eigenvalues = torch.linalg.eigvalsh(patches.T @ patches / len(patches))
    # whitened: unit variance along each direction the patches vary in (eps damps the smallest)
    expected = torch.diag(eigenvalues.flip(0) / (eigenvalues.flip(0) + 5e-4))
    assert torch.allclose(covariance, expected, atol=1e-3)
    assert torch.equal(stem.weight[half:], -stem.weight[:half])


def test_data_init_runs_in_training_and_is_part_of_the_run(digits) -> None:
    cfg = TrainConfig(dataset="digits", model="fastnet", width=0.25, epochs=1, batch_size=64, device="cpu",
                      lr=0.05)  # fmt: skip
    initialized = train(cfg.model_copy(update={"data_init": True, "data_init_images": 256}), digits)
    again = train(cfg.model_copy(update={"data_init": True, "data_init_images": 256}), digits)
    plain = train(cfg, digits)
    stem = initialized.model[0].weight
    assert not stem.requires_grad and torch.equal(stem, again.model[0].weight)
    assert not torch.equal(stem, plain.model[0].weight)
    # from the first 256 images of the first epoch, in its seeded order
    source = digits.batches(cfg.seed, cfg.batch_size, cfg.eval_batch_size, torch.device("cpu"))
    first = torch.cat([xb for xb, _ in itertools.islice(source.train_epoch(0), 4)])
    reference = FastNet(digits.input_shape, digits.num_classes, width=0.25)
    reference.init_from_data(first)
    assert torch.allclose(stem, reference[0].weight)


def test_data_init_needs_the_method(digits, small_cfg: TrainConfig) -> None:
    with pytest.raises(ConfigError, match=r"data_init: model 'cnn' has no method init_from_data\(images\)"):
        train(small_cfg.model_copy(update={"data_init": True}), digits)


def test_warmup_linear_rises_then_falls_to_the_floor() -> None:
    cfg = TrainConfig(lr_schedule="warmup_linear", lr=1.0, warmup_fraction=0.25, lr_initial_fraction=0.2,
                      lr_final_fraction=0.07)  # fmt: skip
    values = lr_values(cfg, 100)
    assert values[0] == pytest.approx(0.2 + 0.8 / 25)  # the first step already a 25th of the way up
    assert values[24] == pytest.approx(1.0)  # the peak on the last warmup step
    assert values[12] == pytest.approx(0.2 + 0.8 * 13 / 25)
    assert values[-1] == pytest.approx(0.07)  # the floor on the last step
    assert all(a < b for a, b in itertools.pairwise(values[:25]))
    assert all(a > b for a, b in itertools.pairwise(values[24:]))


def test_lookahead_and_schedule_free_do_not_mix() -> None:
    with pytest.raises(ValueError, match="averages its weights itself"):
        TrainConfig(optimizer="sgd_schedulefree", weight_averaging="lookahead")


def test_the_trainer_crops_with_the_configured_padding(digits, small_cfg: TrainConfig) -> None:
    cfg = small_cfg.model_copy(update={"epochs": 1, "augment": True})
    zeros4 = train(cfg, digits).history[-1]["train_loss"]
    reflect2 = train(cfg.model_copy(update={"augment_pad": 2, "augment_pad_mode": "reflect"}), digits)
    zeros2 = train(cfg.model_copy(update={"augment_pad": 2}), digits).history[-1]["train_loss"]
    assert len({zeros4, reflect2.history[-1]["train_loss"], zeros2}) == 3


def test_whitened_stem_bias_trains_first_epochs_only_and_a_resumed_run_keeps_the_stem_fixed(
        digits, tmp_path: Path) -> None:  # fmt: skip
    """airbench trains the whitening layer's bias in the first epochs only; its filters never.
    Both hold in a run resumed from a checkpoint (whose parameters all require gradients)."""
    cfg = TrainConfig(dataset="digits", model="fastnet", width=0.25, epochs=3, batch_size=64, device="cpu",
                      lr=0.05, data_init=True, data_init_images=256, model_args={"whiten_bias_epochs": 1})  # fmt: skip
    stems: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    saved: dict[int, Path] = {}

    def keep(metrics: dict, ckpt) -> None:
        saved[ckpt.epoch] = tmp_path / f"epoch{ckpt.epoch}.pt"
        ckpt.save(saved[ckpt.epoch])
        stem = ckpt.state()["model"]
        stems[ckpt.epoch] = (stem["0.weight"].clone(), stem["0.bias"].clone())

    full = train(cfg, digits, keep)
    assert not torch.equal(stems[1][1], torch.zeros_like(stems[1][1]))  # epoch 0: the bias trained
    assert torch.equal(stems[1][1], stems[3][1])  # then not
    assert torch.equal(stems[1][0], stems[3][0])  # the filters never
    resumed = train(cfg, digits, resume=load_checkpoint(saved[1]))
    assert without_timing(resumed.history) == without_timing(full.history)
    assert torch.equal(resumed.model[0].weight, full.model[0].weight)
    assert torch.equal(resumed.model[0].bias, full.model[0].bias)
    # without the whitening the stem is an ordinary layer: its bias trains every epoch
    plain = {}
    train(cfg.model_copy(update={"data_init": False}), digits,
          lambda m, ckpt: plain.__setitem__(ckpt.epoch, ckpt.state()["model"]["0.bias"].clone()))  # fmt: skip
    assert not torch.equal(plain[1], plain[3])
