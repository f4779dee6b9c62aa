"""perfdb kernel donors (SystemSpec.kernel_donors, perfdb/moe.py): TensorRT-LLM's TRTLLM MoE backend runs block-
scaled FP8 experts on the trtllm-gen kernels, which TRT-LLM's own table times for NVFP4 only; on Blackwell the
fp8_block TRTLLM lane is SGLang's table of the same kernels (FlashInfer's build), tier EXTRAPOLATED, while the
default lane (DeepGEMM, what DEEPGEMM and CUTLASS price) and the NVFP4 lane stay TRT-LLM's own. A disaggregated
row's launch recipe names each role's backend (model/catalog/decode_caps.yaml)."""
import numpy as np
import pytest

from sloplan.csv_moe_backend import moe_backend
from sloplan.perfdb import Tier, load_perfdb, load_system
from sloplan.perfdb.queries import Moe, MoeKernel

TOKENS = np.array([1, 16, 128, 2048])
TP8 = (7168, 2048, 8, 256, 8, 1)  # DeepSeek's experts: hidden, inter, topk, experts, moe_tp, moe_ep
EP8 = (7168, 2048, 8, 256, 1, 8)


@pytest.fixture(scope="module")
def dbs():
    return load_perfdb("b200_sxm", "trtllm", "1.3.0rc20"), load_perfdb("b200_sxm", "sglang", "0.5.14")


def _moe(db, shape, dtype="fp8_block", kernel=MoeKernel.CUTLASS):
    lk = db.latency(Moe(TOKENS, *shape, dtype, "power_law_1.01", kernel))
    return np.asarray(lk.latency_s), np.asarray(lk.tier)


def test_the_catalog_names_the_donor_on_blackwell_only():
    want = [("fp8_block", "trtllm_gen", "sglang", "0.5.14", "sglang_flashinfer_trtllm_moe")]
    for name in ("b200_sxm", "b300_sxm", "gb200", "gb300"):
        assert load_system(name).kernel_donors_for("trtllm", "moe_perf.parquet") == want
        assert load_system(name).kernel_donors_for("vllm", "moe_perf.parquet") == []
    for name in ("h100_sxm", "h200_sxm"):
        assert load_system(name).kernel_donors_for("trtllm", "moe_perf.parquet") == []


@pytest.mark.parametrize("shape", [TP8, EP8])
def test_the_fp8_trtllm_lane_is_sglangs_measurement_tagged_extrapolated(dbs, shape):
    trt, sgl = dbs
    lat, tier = _moe(trt, shape, kernel=MoeKernel.TRTLLM)
    theirs, their_tier = _moe(sgl, shape)
    assert np.allclose(lat, theirs, rtol=1e-9)
    assert (tier == Tier.EXTRAPOLATED).all() and (their_tier <= Tier.INTERPOLATED).all()


def test_it_is_another_kernel_than_deepgemm(dbs):
    """Faster at decode widths with experts TP-sliced, slower at prefill widths with experts spread out."""
    trt, _ = dbs
    gen, deepgemm = _moe(trt, TP8, kernel=MoeKernel.TRTLLM)[0], _moe(trt, TP8)[0]
    assert gen[0] < 0.6 * deepgemm[0]
    assert _moe(trt, EP8, kernel=MoeKernel.TRTLLM)[0][-1] > 1.5 * _moe(trt, EP8)[0][-1]


def test_deepgemm_and_cutlass_keep_the_default_lane_and_nvfp4_its_own_lane(dbs):
    trt, sgl = dbs
    for kernel in (MoeKernel.DEEPGEMM, MoeKernel.CUTLASS):
        lat, tier = _moe(trt, EP8, kernel=kernel)
        assert np.allclose(lat, _moe(trt, EP8)[0]) and (tier <= Tier.INTERPOLATED).all()
    own, tier = _moe(trt, EP8, "nvfp4", MoeKernel.TRTLLM)
    assert (tier <= Tier.INTERPOLATED).all() and not np.allclose(own, _moe(sgl, EP8, "nvfp4")[0])
    # DEEPGEMM where the dtype's default lane is not DeepGEMM's: that lane's price, no longer measured
    assert (_moe(trt, EP8, "nvfp4", MoeKernel.DEEPGEMM)[1] >= Tier.EXTRAPOLATED).all()


def test_a_disaggregated_role_takes_its_recipes_backend():
    """config_id 661 (B200 FP8 8k/1k, srt-slurm recipes/trtllm/b200-fp8/8k1k/stp): TRTLLM on both roles;
    config_id 564 (1k/1k, dep8 gen workers): DEEPGEMM on both."""
    def row(config: int, clients: int, isl: str) -> dict:
        return dict(silicon_data_source=f"db-dump/2026-04-27; config_id={config}; silicon_concurrency={clients}",
                    backend="trtllm", system="b200_sxm", model_path="deepseek-ai/DeepSeek-V3", mode="disagg",
                    isl=isl, osl="1024", moe_quant_mode="fp8")
    for role in ("prefill", "decode"):
        kernel, note = moe_backend(row(661, 128, "8192"), role, 1, 128)
        assert kernel is MoeKernel.TRTLLM and "config_id 661" in note and "decode_caps.yaml" in note
        assert moe_backend(row(564, 1920, "1024"), role, 8, 1920)[0] is MoeKernel.DEEPGEMM
