"""Data-parallel rounds: N ranks (one per GPU, or gloo CPU processes for tests) train one round.

train_round spawns the ranks when the resolved world size (world_size) is above 1. Each rank
builds the same networks, reads its own share of every global batch (ml.data.infinite_loader
with rank / world_size), and trains them wrapped in DistributedDataParallel, which averages the
gradients. Rank 0 alone writes checkpoints, gate.json, round.json and progress; whatever the
ranks must agree on (the time plan, evaluations, a cancel) it decides and broadcasts.

The parent process relays rank 0's progress events to the caller's callback, turns the caller's
should_stop into an event rank 0 polls, and returns rank 0's RoundResult. A rank that raises or
dies stops the others (torch.multiprocessing terminates them) and train_round raises
DistributedRoundError naming the rank and its error; the checkpoints rank 0 wrote stay, so the
next run resumes from them as a single-process round does.
"""

from __future__ import annotations

import math
import queue as queue_mod
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.multiprocessing.spawn import ProcessException
from torch.nn.parallel import DistributedDataParallel

from ml.runtime import resolve_device

from .config import TrainConfig

# How long a rank waits in a collective (a broadcast while rank 0 evaluates, a gradient
# all-reduce) before it gives up: a rank stuck for this long fails the run instead of hanging it.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
POLL_S = 0.1  # how often the parent relays events and polls should_stop

RANK_FAILED = (
    "training rank {rank} of {world} failed: {error}. The other ranks were stopped; the next run "
    "resumes from the latest checkpoints."
)


DAEMON_PROCESS = (
    "a round on {world} ranks starts one process per rank, which a daemonic process (a Celery "
    "prefork pool child) may not do: run the training worker with -P solo, or set gpus: 1"
)


class DistributedRoundError(RuntimeError):
    """A rank of a data-parallel round failed (raised, or died); the message names it."""


def world_size(cfg: TrainConfig) -> int:
    """How many ranks train a round of ``cfg`` on this machine.

    CUDA (device "auto" with a GPU, or "cuda"): cfg.gpus, capped at the visible GPUs (0 or
    None: all of them). A device with an index ("cuda:1") pins one GPU. CPU: cfg.cpu_ranks.
    """
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        if device.index is not None:
            return 1
        visible = torch.cuda.device_count()
        return max(1, visible if not cfg.gpus else min(cfg.gpus, visible))
    if device.type == "cpu":
        return cfg.cpu_ranks
    return 1


def lr_scale(cfg: TrainConfig, world: int) -> float:
    """The factor on cfg.lr for ``world`` ranks (cfg.lr_scaling: linear, sqrt or none)."""
    if cfg.lr_scaling == "linear":
        return float(world)
    if cfg.lr_scaling == "sqrt":
        return math.sqrt(world)
    return 1.0


@dataclass
class Dist:
    """This process's place in the round; the default is the single-process round, where every
    method is a no-op (agree returns its argument, wrap its model)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None  # the rank's device (None: resolve cfg.device)
    _wrapped: dict[int, nn.Module] = field(default_factory=dict)

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and reports progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def _device(self) -> torch.device:
        return self.device or torch.device("cpu")

    def agree(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (a broadcast; also a barrier)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on any."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (every rank passes the same keys)."""
        if not self.active or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self._device())
        dist.all_reduce(t)
        return {k: float(v) / self.world_size for k, v in zip(keys, t.tolist(), strict=True)}

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (once per model: a network that trains in both
        stages keeps its wrapper); the model itself when there is one rank."""
        if not self.active:
            return model
        if id(model) not in self._wrapped:
            ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
            # find_unused_parameters: weights that never get a gradient (the app's hybrid SU
            # teacher keeps 99 tensors of its EfficientNet stem past stride 8) must be expected
            self._wrapped[id(model)] = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
        return self._wrapped[id(model)]


# The round function the ranks run: ml.train.loop._round(cfg, dist, *, progress, should_stop,
# t0, **round_kwargs) -> RoundResult (passed in, so this module does not import the loop).
RoundFn = Callable[..., Any]


def _rank_main(
    rank: int,
    world: int,
    init: str,
    fn: RoundFn,
    cfg: TrainConfig,
    kwargs: dict,
    events: Any,
    stop: Any,
    threads: int,
    t0: float,
) -> None:
    """One rank: join the group, run the round, hand rank 0's result to the parent."""
    try:
        device = resolve_device(cfg.device)
        if device.type == "cuda":
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
            backend = "nccl"
        else:
            torch.set_num_threads(threads)
            backend = "gloo"
        dist.init_process_group(backend, init_method=init, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
        main = rank == 0
        result = fn(
            cfg,
            Dist(rank, world, device),
            progress=(lambda e: events.put(("event", e))) if main else None,
            should_stop=stop.is_set if main else None,
            t0=t0,
            **kwargs,
        )
        if main:
            events.put(("result", result))
        dist.destroy_process_group()
    except BaseException as error:
        events.put(("error", rank, f"{type(error).__name__}: {error}"))
        raise


def spawn_round(
    fn: RoundFn,
    cfg: TrainConfig,
    world: int,
    kwargs: dict,
    *,
    progress: Callable[[Any], None] | None,
    should_stop: Callable[[], bool] | None,
) -> Any:
    """Run ``fn`` on ``world`` ranks and return rank 0's result (see the module docstring)."""
    t0 = time.monotonic()
    if mp.current_process().daemon:
        raise DistributedRoundError(DAEMON_PROCESS.format(world=world))
    # forkserver: one server process imports torch, timm and this package once (the preload,
    # where the server is not running yet) and forks each rank from it, clean (no CUDA context,
    # no OpenMP pool); later rounds of the same process fork from the same server at once.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([fn.__module__])
    events = ctx.Queue()
    stop = ctx.Event()
    threads = max(1, torch.get_num_threads() // world)  # CPU ranks share the cores
    result: Any = None
    errors: list[tuple[int, str]] = []

    def drain() -> None:
        nonlocal result
        while True:
            try:
                item = events.get_nowait()
            except queue_mod.Empty:
                return
            if item[0] == "event" and progress is not None:
                progress(item[1])
            elif item[0] == "result":
                result = item[1]
            elif item[0] == "error":
                errors.append((item[1], item[2]))

    with tempfile.TemporaryDirectory(prefix="segloop-ddp-") as tmp:
        procs = mp.start_processes(
            _rank_main,
            args=(world, f"file://{tmp}/rendezvous", fn, cfg, kwargs, events, stop, threads, t0),
            nprocs=world,
            join=False,
            start_method="forkserver",
        )
        try:
            done = False
            while not done:
                drain()
                if should_stop is not None and not stop.is_set() and should_stop():
                    stop.set()
                done = procs.join(timeout=POLL_S)
            drain()
        except ProcessException as failure:
            time.sleep(POLL_S)  # the failed rank's own words may still be on their way
            drain()
            # the first error reported is the cause; the ranks that failed after it mostly lost a peer
            rank, error = errors[0] if errors else (failure.error_index, str(failure).strip().splitlines()[-1])
            raise DistributedRoundError(RANK_FAILED.format(rank=rank, world=world, error=error)) from failure
        finally:
            for p in procs.processes:  # a callback that raised: no rank outlives the call
                if p.is_alive():
                    p.terminate()
            for p in procs.processes:
                p.join()
    if result is None:
        raise DistributedRoundError(f"the {world} training ranks ended without a result")
    return result
