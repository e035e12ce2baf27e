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


def infinite_loader(
    dataset: Dataset, batch_size: int, *, seed: int = 0, num_workers: int = 0, name: str = "dataset"
) -> Iterator[dict]:
    """Endless iterator of collated training batches (dicts of tensors).

    Raises ValueError if the dataset is empty. Batches always hold batch_size samples
    (a dataset smaller than a batch is repeated).
    """
    if len(cast(Sized, dataset)) == 0:
        raise ValueError(f"the {name} set is empty: nothing to train on")
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=InfiniteSampler(len(cast(Sized, dataset)), seed),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
    )
    return iter(loader)


def val_loader(dataset: Dataset, *, num_workers: int = 0) -> DataLoader:
    """Full-resolution evaluation loader, one image per batch (sizes may differ)."""
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers)
