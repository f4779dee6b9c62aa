"""NCCL all_reduce / all_gather latency through torch.distributed, one process per GPU.

Each GPU count n runs in its own group of n spawned processes (ranks 0…n−1 on GPUs 0…n−1). Every rank times
the collective with CUDA events, eagerly and with a fixed number of calls (`timing.fixed_plan`: an adaptive
count could differ between ranks and deadlock); the slowest rank's median is the latency, since a
collective ends when its last rank does.
`message_size` counts the elements of the full tensor (all_gather: the gathered output), as nccl-tests and
the shipped tables do.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

from .grid import NcclCase
from .rows import Measured
from .timing import TimingConfig, fixed_plan, measure_s

KERNEL_SOURCE = "NCCL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collective(torch, dist, case: NcclCase, rank: int):
    numel = case.message_size
    if case.op == "all_reduce":
        x = torch.ones(numel, device=f"cuda:{rank}", dtype=torch.float16)
        return lambda: dist.all_reduce(x)
    shard = max(numel // case.num_gpus, 1)
    x = torch.ones(shard, device=f"cuda:{rank}", dtype=torch.float16)
    out = torch.empty(shard * case.num_gpus, device=f"cuda:{rank}", dtype=torch.float16)
    return lambda: dist.all_gather_into_tensor(out, x)


def _worker(rank: int, world: int, port: int, cases: list, cfg: TimingConfig, result_path: str) -> None:
    import torch
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    results = []
    try:
        for case in cases:
            dist.barrier()
            plan = fixed_plan(cfg, 2 * case.message_size)
            seconds = torch.tensor([measure_s(_collective(torch, dist, case, rank), cfg, plan=plan)],
                                   device=f"cuda:{rank}", dtype=torch.float64)
            dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
            results.append(float(seconds.item()))
    finally:
        dist.destroy_process_group()
    if rank == 0:
        Path(result_path).write_text(json.dumps(results))


def measure_group(cases: list[NcclCase], cfg: TimingConfig) -> list[Measured]:
    """Time cases that share one GPU count in a fresh process group; all-skipped with the reason on failure."""
    import torch.multiprocessing as mp

    world = cases[0].num_gpus
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        mp.spawn(_worker, args=(world, _free_port(), list(cases), cfg, path), nprocs=world, join=True)
        seconds = json.loads(Path(path).read_text())
        return [Measured(s, KERNEL_SOURCE) for s in seconds]
    except Exception as exc:  # a failed spawn (NCCL error, P2P unavailable) skips the group, not the run
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return [Measured(None, KERNEL_SOURCE, reason) for _ in cases]
    finally:
        Path(path).unlink(missing_ok=True)
