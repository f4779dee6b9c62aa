"""model/calibration.py's `moe:` block: constants fitted on the MoE rows alone (bench/calibrate.py --moe),
read only for models with expert layers, so refitting one never moves the other."""
import sys
from pathlib import Path

import pytest

from sloplan.model import calibration as cal_mod
from sloplan.model.calibration import MOE_BLOCK, Calibration, calibration

TABLE = {"trtllm": {"kernel_scale": 0.8, "step_overhead_s": 1e-3},
         "h200_sxm/trtllm": {"kernel_scale": 0.9},
         MOE_BLOCK: {"trtllm": {"kernel_scale": 0.7, "ttft_overhead_s": 0.05},
                     "b200_sxm/trtllm": {"kernel_scale": 0.6},
                     "b200_sxm/trtllm/mla": {"kernel_scale": 0.5, "dp_wait_steps": 40.0},
                     "b200_sxm/trtllm/mla/nvfp4": {"kernel_scale": 0.45, "step_overhead_s": 2e-3}}}


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(cal_mod, "_table", lambda: TABLE)
    calibration.cache_clear()
    yield
    calibration.cache_clear()


def test_dense_models_never_read_the_moe_block(table):
    assert calibration("trtllm", "h200_sxm") == Calibration(kernel_scale=0.9, step_overhead_s=1e-3)
    assert calibration("trtllm", "b200_sxm") == Calibration(kernel_scale=0.8, step_overhead_s=1e-3)


def test_moe_models_take_the_moe_entries_on_top(table):
    # the MoE backend entry over the dense system entry, the MoE system entry over both
    assert calibration("trtllm", "h200_sxm", moe=True) == Calibration(kernel_scale=0.7, step_overhead_s=1e-3,
                                                                       ttft_overhead_s=0.05, prefill_in_steps=True)
    assert calibration("trtllm", "b200_sxm", moe=True).kernel_scale == 0.6


def test_the_design_entry_goes_on_top_for_its_design_only(table):
    from sloplan.model.attention import AttentionKind

    mla = calibration("trtllm", "b200_sxm", moe=True, design=AttentionKind.MLA)
    assert (mla.kernel_scale, mla.dp_wait_steps, mla.ttft_overhead_s) == (0.5, 40.0, 0.05)
    assert calibration("trtllm", "b200_sxm", moe=True, design=AttentionKind.GQA).kernel_scale == 0.6
    # no h200 entry in the block: its backend entry over the dense system entry
    assert calibration("trtllm", "h200_sxm", moe=True, design=AttentionKind.MLA).kernel_scale == 0.7
    # a dense model never reads the block, whatever design it names
    assert calibration("trtllm", "b200_sxm", design=AttentionKind.MLA) == calibration("trtllm", "b200_sxm")


def test_an_engine_takes_its_gemm_formats_entry_on_top_of_its_design(table):
    """calibration.yaml's `system/backend/design/gemm` entries (bench/calibrate.py --moe): an engine of that
    GEMM format reads them over the design's, any other engine the design's; refined once only."""
    from types import SimpleNamespace

    from sloplan.core.enums import Client
    from sloplan.model.attention import AttentionKind
    from sloplan.model.quant import GemmQuant, Quant

    def engine(gemm):
        return SimpleNamespace(quant=Quant.default_for(gemm))
    mla = calibration("trtllm", "b200_sxm", moe=True, design=AttentionKind.MLA)
    fp4 = mla.for_engine(engine(GemmQuant.NVFP4))
    assert (fp4.kernel_scale, fp4.step_overhead_s, fp4.dp_wait_steps, fp4.ttft_overhead_s) == (0.45, 2e-3, 40.0, 0.05)
    assert fp4.prefill_in_steps and fp4.by_gemm == () and fp4.for_engine(engine(GemmQuant.NVFP4)) is fp4
    assert mla.for_engine(engine(GemmQuant.FP8_BLOCK)) is mla  # no entry of its own: the design's
    assert calibration("trtllm", "b200_sxm", moe=True, design=AttentionKind.GQA).by_gemm == ()
    assert calibration("trtllm", "b200_sxm", design=AttentionKind.MLA).by_gemm == ()  # dense: never the block
    offline = mla.for_client(Client.OFFLINE)
    assert offline.for_engine(engine(GemmQuant.NVFP4)).frontend_s_per_token == 0.0


def test_calibrate_fits_each_level_below_its_parent():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import calibrate

    row = {"backend": "trtllm", "part": "b200_sxm/trtllm/mla/nvfp4"}
    assert calibrate._keys(row) == ["trtllm", "b200_sxm/trtllm", "b200_sxm/trtllm/mla", "b200_sxm/trtllm/mla/nvfp4"]
    assert calibrate._keys({"backend": "vllm", "part": "h200_sxm/vllm"}) == ["vllm", "h200_sxm/vllm"]
    fitted = {"trtllm": Calibration(kernel_scale=0.7), "b200_sxm/trtllm": Calibration(kernel_scale=0.6)}
    assert calibrate._parent(fitted, row, 3).kernel_scale == 0.6  # no design entry: the pair's


def test_without_a_moe_entry_the_dense_constants_stand(table):
    assert calibration("vllm", "h200_sxm", moe=True) == calibration("vllm", "h200_sxm") == Calibration()


def test_only_constants_from_the_moe_block_scale_the_steps_prompt_work(table):
    """prefill_in_steps: the MoE block was fitted with it, the dense entries without it."""
    assert calibration("trtllm", "b200_sxm", moe=True).prefill_in_steps
    assert not calibration("trtllm", "b200_sxm").prefill_in_steps
    assert not calibration("vllm", "h200_sxm", moe=True).prefill_in_steps  # no moe entry: dense constants


def test_the_shipped_file_keeps_dense_entries_apart():
    """Every MoE entry lives in the block; the dense entries are the backends and system/backend pairs."""
    calibration.cache_clear()
    table = cal_mod._table()
    assert all(isinstance(v, dict) and "kernel_scale" in v for k, v in table.items() if k != MOE_BLOCK)
    for key, entry in (table.get(MOE_BLOCK) or {}).items():
        assert set(entry) == set(Calibration.__dataclass_fields__) - {"prefill_in_steps", "by_gemm"}, key
    # a finer key names a real design and GEMM format, or no engine would ever read it
    from sloplan.model.attention import AttentionKind
    from sloplan.model.quant import GemmQuant

    finer = [k.split("/") for k in table.get(MOE_BLOCK) or {} if k.count("/") >= 2]
    assert finer and all(len(k) <= 4 for k in finer)
    assert {AttentionKind(k[2]) for k in finer} and {GemmQuant(k[3]) for k in finer if len(k) == 4}


def test_the_estimator_uses_the_moe_constants_for_moe_models(monkeypatch, table):
    from sloplan.context import build_context
    from sloplan.model.framework import Backend

    moe = build_context("Qwen/Qwen3-30B-A3B", "b200_sxm", Backend.TRTLLM, None, 1000, 100, 0, None, "quant")
    dense = build_context("Qwen/Qwen3-32B", "b200_sxm", Backend.TRTLLM, None, 1000, 100, 0, None, "quant")
    assert moe.calibration.kernel_scale == 0.6 and dense.calibration.kernel_scale == 0.8


def test_calibrate_rewrites_one_part_and_keeps_the_other(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import calibrate

    path = tmp_path / "calibration.yaml"
    dense = calibrate.HEADER + "trtllm:\n  kernel_scale: 0.8\n"
    path.write_text(dense)
    monkeypatch.setattr(calibrate, "_FILE", path)
    fitted = {"trtllm": Calibration(kernel_scale=0.7)}
    with_moe = calibrate.new_file(fitted, moe=True)
    assert with_moe.startswith(dense) and f"\n{MOE_BLOCK}:\n  trtllm:\n    kernel_scale: 0.7\n" in with_moe
    path.write_text(with_moe)
    refit = calibrate.new_file({"vllm": Calibration(kernel_scale=1.1)}, moe=False)
    assert refit.endswith(with_moe[len(dense):]) and "vllm:\n  kernel_scale: 1.1" in refit
    assert "trtllm:\n  kernel_scale: 0.8" not in refit  # the dense part is the new fit
