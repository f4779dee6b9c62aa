"""Memory per GPU of MoE / MLA / hybrid engines (model/moe_memory.py), and memory.py's dense figures unchanged."""
import hashlib
import itertools
import json
from pathlib import Path

import pytest

from sloplan.model.catalog import list_models, resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import framework
from sloplan.model.memory import GIB, memory_plan
from sloplan.model.moe_memory import ComponentMemoryPlan, uses_components
from sloplan.model.options import engine_slot, fitting_engines
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.model.weights import Sharding, weight_bytes_per_gpu
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system

GOLDEN = Path(__file__).parent / "golden" / "dense_memory.json"
H200 = load_system("h200_sxm")
FP8 = Quant(GemmQuant.FP8_BLOCK, KvDtype.FP8)


def arch(name):
    return resolve_model(name, estimable=False)


def dense_rows(g: dict) -> dict[str, list]:
    """memory.py's figures of every configuration the golden file's axes span, keyed model|system|backend|
    layout|gemm: the catalog's dense models x systems x frameworks x (tp, pp) x GEMM formats."""
    rows = {}
    for key in itertools.product(g["models"], *(g["axes"][a] for a in ("systems", "backends", "layouts", "quants"))):
        name, sysname, b, layout, q = key
        tp, pp = (int(x) for x in layout.removeprefix("tp").split("pp"))
        m = memory_plan(resolve_model(name), Engine(tp, pp, Quant.default_for(GemmQuant(q))), load_system(sysname),
                        framework(b).profile)
        assert type(m) is not ComponentMemoryPlan
        rows["|".join(key)] = [m.weights_bytes, m.activations_bytes, m.runtime_bytes, m.kv_budget_bytes,
                               m.kv_bytes_per_token, m.kv_tokens, m.max_requests(4500.0)]
    return rows


def model_digests(rows: dict[str, list]) -> dict[str, str]:
    """Per model, the sha256 of its rows in canonical form (sorted keys, every figure as the shortest repr of
    its float, which changes with any bit of any figure)."""
    lines: dict[str, list[str]] = {}
    for key in sorted(rows):
        lines.setdefault(key.split("|")[0], []).append(f"{key} {json.dumps([float(v) for v in rows[key]])}")
    return {m: hashlib.sha256("\n".join(ls).encode()).hexdigest() for m, ls in lines.items()}


def test_dense_memory_figures_did_not_move():
    """Every catalog dense model x engine x framework x system, recorded before the MoE memory model: a
    digest per model (any moved figure fails and names its model) and a few rows in full (what moved)."""
    g = json.loads(GOLDEN.read_text())
    assert set(g["models"]) == set(list_models(dense_only=True))
    rows = dense_rows(g)
    assert len(rows) == 1944
    assert {k: rows[k] for k in g["spot"]} == g["spot"]
    got = model_digests(rows)
    assert [m for m in g["sha256"] if got[m] != g["sha256"][m]] == [] and got.keys() == g["sha256"].keys()


def test_deepseek_v3_ep8_weights_and_latent_kv():
    a = arch("deepseek-ai/DeepSeek-V3")
    e = Engine(8, 1, FP8, moe_tp=1, moe_ep=8)
    m = memory_plan(a, e, H200, framework("trtllm").profile)
    assert isinstance(m, ComponentMemoryPlan)
    assert m.weights_bytes == weight_bytes_per_gpu(a, Sharding(tp=8, moe_ep=8)).total
    assert 75 * GIB < m.weights_bytes < 95 * GIB  # ~671B params at ~1 byte over 8 GPUs
    # MLA latent cache: (512 + 64) x 61 layers x 1 byte per token per GPU, not split by TP
    assert m.kv_bytes_per_token == (512 + 64) * 61
    assert m.all_to_all_bytes == 2 * 8192 * 8 * 7168 * 2
    assert m.max_requests(4500) == int(m.kv_budget_bytes // (576 * 61 * 4500))


def test_attention_dp_multiplies_requests_and_copies_attention():
    a = arch("deepseek-ai/DeepSeek-V3")
    fw = framework("trtllm").profile
    tp8 = memory_plan(a, Engine(8, 1, FP8, moe_ep=8), H200, fw)
    dp8 = memory_plan(a, Engine(1, 1, FP8, dp=8, moe_ep=8), H200, fw)
    assert dp8.parts.experts == tp8.parts.experts
    # every rank holds all of attention (MLA's down-projections were replicated over TP anyway)
    assert dp8.parts.attention == weight_bytes_per_gpu(a, Sharding(tp=1, moe_ep=8)).attention > 4 * tp8.parts.attention
    per_gpu = int(dp8.kv_budget_bytes // dp8.footprint.bytes_for(4500))
    assert dp8.max_requests(4500) == 8 * per_gpu


def test_sliding_window_layers_cap_the_request():
    a = arch("openai/gpt-oss-120b")
    m = memory_plan(a, Engine(4, 1, Quant.default_for(GemmQuant.BF16), moe_tp=4), H200, framework("vllm").profile)
    f = m.footprint
    assert f.window_tokens == 128 and f.window_bytes_per_token > 0
    long, short = f.bytes_for(100_000), f.bytes_for(1_000)
    assert long - short == pytest.approx(f.full_bytes_per_token * 99_000)


def test_more_experts_per_gpu_than_memory_allows_is_rejected_with_its_reason():
    a = arch("deepseek-ai/DeepSeek-V3")
    fw, wl = framework("trtllm").profile, Workload(4000, 500, 0)
    slot = engine_slot(a, Engine(4, 1, FP8, moe_tp=1, moe_ep=4), H200, fw, wl, None)
    assert isinstance(slot, str) and "GiB of experts per GPU (moe_ep=4" in slot
    slots, rejected = fitting_engines(a, _db(), fw, wl, [FP8], 8, 256)
    assert all(s.engine.gpus == 8 for s in slots) and slots
    assert any(e.gpus == 4 and "experts per GPU" in why for e, why in rejected)


def test_components_only_for_non_dense_designs():
    assert not any(uses_components(resolve_model(n)) for n in list_models(dense_only=True))
    assert uses_components(arch("Qwen/Qwen3-30B-A3B")) and uses_components(arch("deepseek-ai/DeepSeek-V3"))


def _db():
    class _Db:  # fitting_engines reads only the system
        system = H200
    return _Db()
