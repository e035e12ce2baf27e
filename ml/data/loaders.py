"""Data loaders: infinite shuffled iterators for training, a full-image val loader."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import cast

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class InfiniteSampler(Sampler[int]):
    """Yields a fresh seeded permutation of range(n) after another, forever."""

    def __init__(self, n: int, seed: int = 0) -> None:
        if n <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.n, self.seed = n, seed

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed)
        while True:
            yield from torch.randperm(self.n, generator=g).tolist()


class RankSampler(Sampler[int]):
    """One rank's share of the global batches of an InfiniteSampler stream.

    Every rank draws the same seeded permutations; of each ``batch_size * world_size``
    consecutive indices (one global batch) rank r yields the r-th ``batch_size``. So N ranks
    of batch b together see the batches that one process of batch N x b sees, in the same order.
    """

    def __init__(self, n: int, seed: int, *, rank: int, world_size: int, batch_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.base = InfiniteSampler(n, seed)
        self.rank, self.world_size, self.batch_size = rank, world_size, batch_size

    def __iter__(self) -> Iterator[int]:
        stream = iter(self.base)
        lo = self.rank * self.batch_size
        while True:
            chunk = [next(stream) for _ in range(self.batch_size * self.world_size)]
            yield from chunk[lo : lo + self.batch_size]


def infinite_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int = 0,
    num_workers: int = 0,
    name: str = "dataset",
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[dict]:
    """Endless iterator of collated training batches (dicts of tensors).

    Raises ValueError if the dataset is empty. Batches always hold batch_size samples
    (a dataset smaller than a batch is repeated). With world_size > 1 the batches are rank
    ``rank``'s share of global batches of world_size x batch_size (RankSampler).
    """
    n = len(cast(Sized, dataset))
    if n == 0:
        raise ValueError(f"the {name} set is empty: nothing to train on")
    sampler: Sampler[int] = InfiniteSampler(n, seed)
    if world_size > 1:
        sampler = RankSampler(n, seed, rank=rank, world_size=world_size, batch_size=batch_size)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
    )
    return iter(loader)


def val_loader(dataset: Dataset, *, num_workers: int = 0) -> DataLoader:
    """Full-resolution evaluation loader, one image per batch (sizes may differ)."""
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers)
