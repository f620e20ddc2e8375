"""The trainer's distributed seam without Ray: K processes of a real gloo process group train
what one process trains (global batch fixed), and placement counts whole worker bundles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from nagexp.config import TrainConfig
from nagexp.config.resources import WorkerResources, check_batchnorm, fitting_trials
from nagexp.core.errors import ConfigError
from nagexp.data.batches import part_of, rank_rows
from nagexp.training.distributed import TorchProcessGroup
from nagexp.training.trainer import train
from tests.conftest import free_port, load_bundle, without_timing


def _rank_main(rank: int, world: int, port: int, config: dict, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        cfg = TrainConfig(**config)
        result = train(cfg, load_bundle("digits"), dist=TorchProcessGroup(torch.device("cpu"), cfg.sync_batchnorm))
        torch.save({"history": result.history, "test_acc": result.test_acc}, f"{out}.{rank}")
        dist.barrier()  # no rank tears the group down while another still talks to it (gloo aborts then)
    finally:
        dist.destroy_process_group()


def run_in_processes(cfg: TrainConfig, world: int, out: Path) -> list[dict]:
    mp.spawn(_rank_main, args=(world, free_port(), cfg.model_dump(mode="json"), str(out)), nprocs=world)
    return [torch.load(f"{out}.{rank}", weights_only=False) for rank in range(world)]


@pytest.mark.parametrize("n", [1, 7, 64, 65])
def test_parts_of_a_batch_cover_it_once(n: int) -> None:
    for world in (1, 2, 3):
        parts = [part_of(n, r, world) for r in range(world)]
        rows = [i for p in parts for i in range(n)[p]]
        assert rows == list(range(n))
        sizes = [len(range(n)[p]) for p in parts]
        assert max(sizes) - min(sizes) <= 1


def test_rank_rows_give_each_process_its_rows_of_every_batch() -> None:
    # 1295 training rows in batches of 50, 143 val rows in batches of 37 (the last one short):
    # the two processes' rows, joined, are every batch, in order
    whole = load_bundle("digits", say=lambda _: None).batches(0, 50, 37, torch.device("cpu"))
    assert rank_rows(whole, 0, 1, 50) is whole  # one process: whole batches
    parts = [rank_rows(whole, rank, 2, 50) for rank in range(2)]
    assert [p.rows for p in parts] == [slice(0, 25), slice(25, 50)]
    assert all(p.steps_per_epoch == whole.steps_per_epoch for p in parts)
    for batches in (lambda s: s.train_epoch(1), lambda s: s.eval_batches("val")):
        joined = [torch.cat([a[1], b[1]]) for a, b in zip(*(batches(p) for p in parts), strict=True)]
        assert [y.tolist() for y in joined] == [y.tolist() for _, y in batches(whole)]
    assert rank_rows(parts[0], 0, 2, 50) is parts[0]  # a source that yields its rows stays as it is


@pytest.mark.slow  # gloo processes spawned: the full suite, not the fast tier
@pytest.mark.parametrize("augment", [False, True])
def test_two_processes_train_what_one_trains(tmp_path: Path, augment: bool) -> None:
    # 1295 training rows, global batch 50 split 25/25, and an odd eval batch (143 val rows in
    # batches of 37 split 18/19): no BatchNorm, so K=2 must match K=1
    cfg = TrainConfig(dataset="digits", model="mlp", epochs=3, batch_size=50, eval_batch_size=37, lr=0.1,
                      augment=augment, device="cpu", num_threads=1)  # fmt: skip
    torch.set_num_threads(1)
    single = train(cfg, load_bundle("digits"))
    ranks = run_in_processes(cfg.model_copy(update={"workers_per_trial": 2}), 2, tmp_path / "run")
    assert without_timing(ranks[0]["history"]) == without_timing(
        ranks[1]["history"]
    )  # every process reports the same reduced metrics
    for one, two in zip(single.history, ranks[0]["history"], strict=True):
        assert two["val_acc"] == pytest.approx(one["val_acc"], abs=1e-4)
        for key in ("train_loss", "val_loss", "train_acc"):
            assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-5), key
    assert ranks[0]["test_acc"] == pytest.approx(single.test_acc, abs=1e-4)


@pytest.mark.slow  # gloo processes spawned: the full suite, not the fast tier
def test_batchnorm_model_trains_and_reports_its_own_metrics(tmp_path: Path) -> None:
    # plain BatchNorm normalizes each process's half batch: close to K=1, not equal; every
    # process still reports the same (reduced) numbers, from rank 0's statistics
    cfg = TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=2, batch_size=64, device="cpu",
                      num_threads=1, workers_per_trial=2)  # fmt: skip
    ranks = run_in_processes(cfg, 2, tmp_path / "bn")
    assert without_timing(ranks[0]["history"]) == without_timing(ranks[1]["history"])
    assert ranks[0]["history"][-1]["val_acc"] > 0.8


@pytest.mark.slow  # gloo processes spawned: the full suite, not the fast tier
def test_sync_batchnorm_on_cpu_workers_is_refused(tmp_path: Path) -> None:
    cfg = TrainConfig(dataset="digits", model="cnn", epochs=1, device="cpu", workers_per_trial=2, sync_batchnorm=True)
    with pytest.raises(Exception, match="sync_batchnorm needs GPU workers"):  # in the workers
        run_in_processes(cfg, 2, tmp_path / "sync")
    with pytest.raises(ConfigError, match="sync_batchnorm needs GPU workers"):  # before anything starts
        check_batchnorm(WorkerResources(2, cpus=1.0), sync_batchnorm=True)
    check_batchnorm(WorkerResources(2, cpus=1.0, gpus=1.0), sync_batchnorm=True)


def test_batch_smaller_than_the_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size 2 is smaller than workers_per_trial 4"):
        TrainConfig(batch_size=2, workers_per_trial=4)


def test_whole_worker_bundles_are_counted_node_by_node() -> None:
    nodes = [{"CPU": 3.0}, {"CPU": 3.0}]
    # 2-CPU workers: one per node (the third CPU of each node holds no worker), so one
    # 2-worker trial at a time, not 6 // 4 = 1.5 -> 1 by luck of the totals
    assert fitting_trials(WorkerResources(2, cpus=2.0), nodes) == 1
    assert fitting_trials(WorkerResources(2, cpus=1.0), nodes) == 3
    gpu_nodes = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0, "GPU": 1.0}]
    assert fitting_trials(WorkerResources(3, cpus=4.0, gpus=1.0), gpu_nodes) == 1
    with pytest.raises(ConfigError, match=r"needs 4 such bundles; the cluster .* holds 3"):
        fitting_trials(WorkerResources(4, cpus=4.0, gpus=1.0), gpu_nodes)
    # GPU workers where there is no GPU: what to change, not "lower --workers-per-trial"
    with pytest.raises(ConfigError, match=r"holds 0\. Leave --gpus-per-worker at 0 on a machine without GPUs$"):
        fitting_trials(WorkerResources(2, cpus=1.0, gpus=1.0), [{"CPU": 2.0}])


def _gpu_rank_main(rank: int, world: int, port: int, backend: str, config: dict, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = torch.device("cuda", rank % torch.cuda.device_count())  # NCCL: a GPU each; gloo may share one
    torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        cfg = TrainConfig(**config)
        result = train(cfg, load_bundle("digits"), dist=TorchProcessGroup(device, cfg.sync_batchnorm))
        torch.save({"history": result.history, "test_acc": result.test_acc}, f"{out}.{rank}")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_on_gpus(cfg: TrainConfig, world: int, backend: str, out: Path) -> list[dict]:
    mp.spawn(_gpu_rank_main, args=(world, free_port(), backend, cfg.model_dump(mode="json"), str(out)), nprocs=world)
    return [torch.load(f"{out}.{rank}", weights_only=False) for rank in range(world)]


@pytest.mark.gpu
def test_two_workers_on_one_gpu_train_what_one_gpu_trains(tmp_path: Path) -> None:
    """The GPU path of the seam on any GPU machine, one GPU enough: two processes on CUDA
    tensors (DDP with device_ids, metrics summed on the GPU), through gloo, which, unlike NCCL,
    lets two processes share a GPU. No BatchNorm: two halves of each batch train what the
    whole batch trains on one GPU (bf16 autocast and the reduction order: close, not equal)."""
    cfg = TrainConfig(dataset="digits", model="mlp", epochs=3, batch_size=50, eval_batch_size=37, lr=0.1,
                      device="cuda", workers_per_trial=2)  # fmt: skip
    ranks = run_on_gpus(cfg, 2, "gloo", tmp_path / "shared")
    assert without_timing(ranks[0]["history"]) == without_timing(ranks[1]["history"])
    single = train(cfg.model_copy(update={"workers_per_trial": 1}), load_bundle("digits"))
    assert len(single.history) == len(ranks[0]["history"]) == 3
    for one, two in zip(single.history, ranks[0]["history"], strict=True):
        assert two["val_acc"] == pytest.approx(one["val_acc"], abs=0.03)
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=0.05)
    assert ranks[0]["test_acc"] == pytest.approx(single.test_acc, abs=0.03)
    assert ranks[0]["history"][-1]["val_acc"] > 0.8


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason=f"NCCL runs one worker per GPU: two workers need 2 GPUs, this machine has "
                           f"{torch.cuda.device_count()} (test_two_workers_on_one_gpu_... covers one GPU)")  # fmt: skip
def test_nccl_workers_on_gpus_train_what_one_gpu_trains(tmp_path: Path) -> None:
    """The multi-GPU path of the seam: NCCL, DDP with device_ids, SyncBatchNorm, one worker per
    GPU, at least two. The workers agree, and train what one process on one GPU trains with the
    same global batch (bf16 autocast and NCCL's reduction order: close, not bit-equal)."""
    world = torch.cuda.device_count()
    cfg = TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=2, batch_size=64, device="cuda",
                      workers_per_trial=world, sync_batchnorm=True)  # fmt: skip
    ranks = run_on_gpus(cfg, world, "nccl", tmp_path / "gpu")
    histories = [without_timing(r["history"]) for r in ranks]
    assert all(h == histories[0] for h in histories)
    single = without_timing(train(cfg.model_copy(update={"workers_per_trial": 1, "sync_batchnorm": False}),
                                  load_bundle("digits")).history)  # fmt: skip
    assert len(single) == len(histories[0]) == 2
    for ours, one in zip(histories[0], single, strict=True):
        assert ours["val_acc"] == pytest.approx(one["val_acc"], abs=0.03)
        assert ours["train_loss"] == pytest.approx(one["train_loss"], rel=0.05)
    assert histories[0][-1]["val_acc"] > 0.8
