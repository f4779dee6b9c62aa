"""perfdb lane donors (SystemSpec.lane_donors, perfdb/moe.py): vLLM on Blackwell runs gpt-oss's MXFP4 experts
on FlashInfer's MXFP8-activation kernel, which vLLM's own MoE table collected only for other shapes; those
shapes come from SGLang's table of the same kernel on the same GPU, tagged EXTRAPOLATED, while every shape
vLLM's table has stays its own. The launch sets the switch the pricing assumed."""
import numpy as np
import pytest

from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend
from sloplan.model.moe_ops import kernel_env
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_perfdb, load_system
from sloplan.perfdb.queries import Moe

TOKENS = np.array([1, 8, 64, 512])
GPTOSS = (2880, 2880, 4, 128, 1, 1)  # hidden, inter, topk, experts, moe_tp, moe_ep
OTHER = (4096, 2048, 6, 256, 1, 8)  # a shape vLLM's own MXFP8 lane collected


def _moe(db, shape, dtype="w4a8_mxfp4_mxfp8"):
    return db.latency(Moe(TOKENS, *shape, dtype, "power_law_1.2"))


@pytest.fixture(scope="module")
def dbs():
    return load_perfdb("b200_sxm", "vllm", "0.24.0"), load_perfdb("b200_sxm", "sglang", "0.5.14")


def test_the_catalog_names_the_donor_on_fp4_math_gpus_only():
    for name in ("b200_sxm", "b300_sxm", "gb200", "gb300"):
        assert load_system(name).lane_donors_for("vllm", "moe_perf.parquet") == [
            ("w4a8_mxfp4_mxfp8", "sglang", "0.5.14")]
    for name in ("h100_sxm", "h200_sxm"):
        assert load_system(name).lane_donors_for("vllm", "moe_perf.parquet") == []


def test_a_shape_vllm_lacks_is_sglangs_measurement_tagged_extrapolated(dbs):
    vllm, sglang = dbs
    mine, theirs = _moe(vllm, GPTOSS), _moe(sglang, GPTOSS)
    assert np.allclose(np.asarray(mine.latency_s), np.asarray(theirs.latency_s), rtol=1e-9)
    assert (np.asarray(mine.tier) == Tier.EXTRAPOLATED).all()
    assert (np.asarray(theirs.tier) <= Tier.INTERPOLATED).all()
    # the MXFP8 kernel is the faster lane at decode widths (weight-only BF16 activations: vLLM's own table)
    bf16_lane = np.asarray(_moe(vllm, GPTOSS, "w4a16_mxfp4").latency_s)
    assert (np.asarray(mine.latency_s)[1:] < bf16_lane[1:]).all()


def test_a_shape_vllm_collected_stays_its_own(dbs):
    vllm, sglang = dbs
    mine, theirs = _moe(vllm, OTHER), _moe(sglang, OTHER)
    assert (np.asarray(mine.tier) <= Tier.INTERPOLATED).all()
    assert not np.allclose(np.asarray(mine.latency_s), np.asarray(theirs.latency_s))


def test_the_launch_sets_the_switch_the_pricing_assumed():
    arch = resolve_model("openai/gpt-oss-120b")
    engine = Engine(1, 1, Quant.default_for(GemmQuant.BF16))
    assert kernel_env(arch, engine, load_system("b200_sxm"), Backend.VLLM) == (
        "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1",)
    assert kernel_env(arch, engine, load_system("h200_sxm"), Backend.VLLM) == ()  # no FP4 math: weight-only
    assert kernel_env(arch, engine, load_system("b200_sxm"), Backend.TRTLLM) == ()  # its default
    assert kernel_env(arch, engine, load_system("b200_sxm"), Backend.SGLANG) == ()


@pytest.mark.parametrize("modes", ["agg", "disagg"])
def test_every_launched_vllm_server_of_the_plan_sets_the_switch(modes):
    """solve's launch text, aggregated replicas and disaggregated workers alike."""
    import subprocess
    import sys

    args = ["solve", "--model", "openai/gpt-oss-120b", "--system", "b200_sxm", "--backend", "vllm",
            "--total-gpus", "4", "--isl", "1024", "--osl", "1024", "--ttft-ms", "3000", "--tpot-ms", "30",
            "--modes", modes]
    out = subprocess.run([sys.executable, "-m", "sloplan", *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    servers = [line for line in out.stdout.splitlines() if "vllm serve" in line]
    assert servers and all("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1" in line for line in servers)
    hopper = subprocess.run([sys.executable, "-m", "sloplan", *[a if a != "b200_sxm" else "h200_sxm" for a in args]],
                            capture_output=True, text=True, timeout=600)
    assert hopper.returncode == 0 and "vllm serve" in hopper.stdout
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in hopper.stdout
