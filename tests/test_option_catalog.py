"""Options that know their engines: each row points to the slot it was priced for, batched lookups equal
single ones bit for bit, and a plan with several replica groups gets one launch command and role per group."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sloplan.api import solve
from sloplan.context import build_context
from sloplan.model.framework import Backend
from sloplan.model.lookups import flat, lookup_all
from sloplan.perfdb.queries import AllReduce, Gemm, GenerationAttention
from sloplan.model.option_table import MODES, Role, ServingMode
from sloplan.model.options import evaluate, fitting_engines, option_table

ROOT = Path(__file__).resolve().parents[1]
# 7 GPUs, tight SLOs: three TP2 replicas and one TP1 replica beat any single engine type
MIXED = {"model": "Qwen/Qwen3-32B-FP8", "system": "h200_sxm", "backend": "trtllm", "isl": 4000, "osl": 500,
         "ttft_ms": 2000, "tpot_ms": 30, "total_gpus": 7, "modes": ["agg", "static"]}  # mixed aggregated replicas


@pytest.fixture(scope="module")
def priced():
    ctx = build_context("meta-llama/Llama-3.1-8B", "h100_sxm", Backend.VLLM, None, 2000, 200, 100, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 4, 48)
    return ctx, slots, option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(MODES), 48, ctx.calibration)


def test_every_row_points_to_the_slot_it_was_priced_for(priced):
    """Re-pricing each slot and mode alone gives exactly (bit for bit) the rows that point to it."""
    ctx, slots, table = priced
    assert table.slots == tuple(slots) and len(slots) > 3
    for i, slot in enumerate(slots):
        for mode in MODES:
            rows = np.flatnonzero((table.engine_index == i) & (table.mode == MODES.index(mode)))
            assert len(rows) and all(table.slot(r) is slot for r in rows[:: max(1, len(rows) // 5)])
            assert np.all(table.gpus[rows] == slot.engine.gpus)
            alone = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, mode, table.concurrency[rows],
                             ctx.calibration)
            for col in ("tokens_per_s", "ttft_s", "tpot_s", "tier", "source"):
                assert np.array_equal(getattr(table, col)[rows], getattr(alone, col)), (slot.engine.label, mode, col)
            assert {table.role_of(r) for r in rows} == {Role(mode.value)}


def test_a_sub_table_keeps_pointing_to_the_same_slots(priced):
    _, _, table = priced
    rows = np.array([len(table) - 1, 0, len(table) // 2])
    sub = table.take(rows)
    assert [sub.slot(i) for i in range(3)] == [table.slot(r) for r in rows]


def test_batched_lookups_equal_lookups_one_by_one(priced):
    ctx, _, _ = priced
    db = ctx.db
    queries = [Gemm(np.arange(1, 300, 7), 6144, 4096, "fp8"),
               Gemm(np.array([5, 4096, 9000]), 6144, 4096, "fp8"),
               Gemm(np.array([17]), 4096, 4096, "fp8"),
               GenerationAttention(np.arange(1, 65), 2100.0, 32, 8, 128, 0, "fp8"),
               GenerationAttention(np.array([3, 500]), np.array([10, 9000]), 32, 8, 128, 0, "fp8"),
               AllReduce(np.array([4096.0, 4096.0 * 300]), 2),
               AllReduce(np.array([77.0]), 2)]
    together = lookup_all(db, queries)
    for q, lk in zip(queries, together):
        alone = lookup_all(db, [q])[0]
        assert np.array_equal(lk.latency_s, alone.latency_s) and np.array_equal(lk.tier, alone.tier)
        assert lk.latency_s.shape == flat(q).arrays[0].shape and np.all(lk.latency_s > 0)


@pytest.fixture(scope="module")
def mixed():
    return solve(MIXED)


def test_each_replica_group_of_a_mixed_plan_gets_its_own_launch_command(mixed):
    groups = mixed.best.replicas
    assert len(groups) >= 2 and len({(g.tp, g.pp) for g in groups}) >= 2
    for g in groups:
        assert g.launch.count("trtllm-serve") == 1
        assert f"--tp_size {g.tp} --pp_size {g.pp}" in g.launch
        assert f"--max_batch_size {g.concurrency}" in g.launch  # within the running cap here
        assert g.role == Role.AGG.value == g.mode
    assert mixed.best.launch == groups[0].launch  # the main group's command, as before
    assert all(g.launch is None for p in mixed.front for g in p.replicas)  # only the best plan is launched


def test_json_and_table_output_show_every_group(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(MIXED))
    run = lambda *a: subprocess.run([sys.executable, "-m", "sloplan", "solve", str(path), *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT, timeout=180)
    doc = json.loads(run("--json").stdout)
    groups = doc["best"]["replicas"]
    assert [g["role"] for g in groups] == [g["mode"] for g in groups] and len(groups) >= 2
    assert all(p["replicas"][0]["role"] in ("agg", "static") for p in doc["front"])
    text = run().stdout
    for g in groups:
        assert f"Launch (one replica of {g['count']}× {g['engine']}, {g['mode']}):" in text
        assert f"--tp_size {g['tp']} --pp_size {g['pp']}" in text


def test_a_static_row_is_a_static_role(priced):
    _, _, table = priced
    row = int(np.flatnonzero(table.mode == MODES.index(ServingMode.STATIC))[0])
    assert table.role_of(row) is Role.STATIC
