"""Batched augmentation on its own: every output image is a crop of the zero-padded input,
flipped or not; the draws come from the generator (same seed, same batch); and a data-parallel
worker's part is exactly its rows of the whole batch's augmentation."""

from __future__ import annotations

import torch

from nagexp.training.augment import alternating_flips, augment_batch

PAD = 4


def _batch(n: int = 64, c: int = 3, size: int = 8) -> torch.Tensor:
    return torch.arange(n * c * size * size, dtype=torch.float32).reshape(n, c, size, size) + 1.0  # no zeros


def _candidates(image: torch.Tensor, pad: int = PAD, mode: str = "constant") -> list[torch.Tensor]:
    """Every crop of the padded image, and its mirror."""
    _, h, w = image.shape
    padded = torch.nn.functional.pad(image[None], (pad, pad, pad, pad), mode=mode)[0]
    crops = [padded[:, dy : dy + h, dx : dx + w] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
    return crops + [crop.flip(2) for crop in crops]


def _gen(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def test_each_image_is_a_padded_crop_flipped_or_not() -> None:
    x = _batch()
    out = augment_batch(x, _gen(0), pad=PAD)
    assert out.shape == x.shape
    for image, augmented in zip(x, out, strict=True):
        assert any(torch.equal(augmented, crop) for crop in _candidates(image))
    unchanged = sum(torch.equal(a, b) for a, b in zip(x, out, strict=True))
    assert unchanged < len(x) // 4  # crops and flips happen (1 in 162 draws is the identity)
    mirrored = sum(torch.equal(a, b.flip(2)) for a, b in zip(out, x, strict=True))
    shifted = sum(bool((a == 0).any()) for a in out)  # a shifted crop brings in padding
    assert mirrored > 0 and shifted > len(x) // 2


def test_the_generator_decides_the_draws() -> None:
    x = _batch()
    assert torch.equal(augment_batch(x, _gen(7)), augment_batch(x, _gen(7)))
    assert not torch.equal(augment_batch(x, _gen(7)), augment_batch(x, _gen(8)))


def test_a_workers_part_is_its_rows_of_the_whole_batch() -> None:
    x = _batch(n=30)
    whole = augment_batch(x, _gen(3))
    rows = slice(10, 20)
    assert torch.equal(augment_batch(x, _gen(3), rows=rows), whole[rows])  # the worker holds the whole batch
    assert torch.equal(augment_batch(x[rows], _gen(3), rows=rows, total=30), whole[rows])  # ... or only its part


def test_reflect_padding_crops_from_the_mirrored_border() -> None:
    """airbench's translate: 2 px, the border reflected (no zeros come in)."""
    x = _batch(16)
    out = augment_batch(x, _gen(1), pad=2, pad_mode="reflect")
    assert (out != 0).all()
    for image, result in zip(x, out, strict=True):
        assert any(torch.equal(result, c) for c in _candidates(image, pad=2, mode="reflect"))
    assert (augment_batch(x, _gen(1), pad=2) == 0).any()  # zero padding lets zeros in


def test_reflect_padding_wider_than_the_images_is_one_clear_error(digits) -> None:
    import pytest

    from nagexp.config import TrainConfig
    from nagexp.core.errors import ConfigError
    from nagexp.training.trainer import train

    cfg = TrainConfig(dataset="digits", model="mlp", epochs=1, augment=True, augment_pad=8, augment_pad_mode="reflect")
    with pytest.raises(ConfigError, match="augment_pad 8 with augment_pad_mode reflect needs images larger than 8 px"):
        train(cfg, digits)
    train(cfg.model_copy(update={"augment_pad_mode": "zeros", "epochs": 1}), digits)  # zeros pad any width


def _mirrored(x: torch.Tensor, out: torch.Tensor) -> list[bool]:
    """Which outputs (augmented with pad 0: no shift) are their input's mirror."""
    return [torch.equal(a, b.flip(2)) for a, b in zip(out, x, strict=True)]


def test_alternating_flips_mirror_each_image_every_other_epoch() -> None:
    """airbench's derandomized flip; random flips (the default) fail this on most images."""
    x = torch.randn(64, 3, 8, 8, generator=_gen(5))
    epochs = [_mirrored(x, augment_batch(x, _gen(e), pad=0, flip=alternating_flips(x, e, seed=1))) for e in range(4)]
    for image in zip(*epochs, strict=True):
        assert image in ((True, False, True, False), (False, True, False, True))
    assert 16 < sum(epochs[0]) < 48  # which epochs an image starts in is mixed over the images
    random = [_mirrored(x, augment_batch(x, _gen(e), pad=0)) for e in range(4)]
    assert sum(r in ((True, False, True, False), (False, True, False, True)) for r in zip(*random, strict=True)) < 24


def test_alternating_flips_follow_the_image_not_its_place_in_the_batch() -> None:
    x = torch.randn(40, 3, 8, 8, generator=_gen(6))
    order = torch.randperm(40, generator=_gen(7))
    assert torch.equal(alternating_flips(x, 2, seed=3)[order], alternating_flips(x[order], 2, seed=3))
    assert torch.equal(alternating_flips(x[:10], 2, seed=3), alternating_flips(x, 2, seed=3)[:10])  # any batch size
    assert not torch.equal(alternating_flips(x, 2, seed=3), alternating_flips(x, 2, seed=4))  # seeded


def test_alternating_flips_reach_training(digits) -> None:
    from nagexp.config import TrainConfig
    from nagexp.training.trainer import train

    cfg = TrainConfig(dataset="digits", model="mlp", epochs=2, augment=True, augment_pad=1)
    random = train(cfg, digits).history[-1]["train_loss"]
    alternate = train(cfg.model_copy(update={"augment_flip": "alternate"}), digits).history[-1]["train_loss"]
    assert alternate != random
    assert train(cfg.model_copy(update={"augment_flip": "alternate"}), digits).history[-1]["train_loss"] == alternate
