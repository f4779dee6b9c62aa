"""Collector output on the CPU: a fake timing backend → files → read back; schema equal to the wheel's."""
from dataclasses import dataclass, field

import pyarrow.parquet as pq
import pytest
import yaml

from sloplan.perfdb.collector import CollectRequest, DeviceInfo, Measured, collect
from sloplan.perfdb.collector import schema as s
from sloplan.perfdb.collector.grid import GIB
from sloplan.perfdb.collector.writer import write_table
from sloplan.perfdb.source import read_columns, version_dirs, wheel_dir

H200 = "systems/data/h200_sxm"
WHEEL_TABLES = {  # our table → the wheel's tables that must have the same columns and Arrow types
    "gemm_perf": ["gemm/trtllm/1.3.0rc20", "gemm/vllm/0.24.0", "gemm/sglang/0.5.14"],
    "context_attention_perf": ["attention/vllm/0.24.0", "attention/sglang/0.5.14", "attention/trtllm/1.3.0rc20"],
    "generation_attention_perf": ["attention/vllm/0.24.0", "attention/trtllm/1.3.0rc20"],
    "nccl_perf": ["comm/nccl/2.29.2"],
}


def fake_device(gpus=8, cc="9.0"):
    return DeviceInfo("NVIDIA Fake GPU", gpus, cc, 80 * GIB, "550.54", "12.4", "2.5.1+cu124", "2.21.5")


def fake_seconds(case) -> float:
    """A deterministic latency per case (what a timer would return), distinct for distinct keys."""
    return 1e-6 * (1 + (hash(case) % 100000) / 1000)


@dataclass
class FakeBackend:
    device: DeviceInfo = field(default_factory=fake_device)
    fail_every: int = 0          # every n-th GEMM case is "unsupported"
    interrupt_at: int = -1       # raise KeyboardInterrupt on this GEMM case
    calls: int = 0

    def gemm(self, case):
        self.calls += 1
        if self.calls - 1 == self.interrupt_at:
            raise KeyboardInterrupt
        if self.fail_every and self.calls % self.fail_every == 0:
            return Measured(None, "", "RuntimeError: unsupported")
        return Measured(fake_seconds(case), "torch.matmul" if case.dtype == "bfloat16" else "torch._scaled_mm")

    def attention(self, case):
        return Measured(fake_seconds(case), "torch.nn.functional.scaled_dot_product_attention")

    def nccl(self, cases):
        return [Measured(fake_seconds(c), "NCCL") for c in cases]


@pytest.mark.parametrize("table", sorted(WHEEL_TABLES))
def test_schema_equals_the_wheels_tables(table):
    ours = s.arrow_schema(s.TABLES[table])
    for folder in WHEEL_TABLES[table]:
        theirs = pq.read_schema(wheel_dir() / H200 / folder / f"{table}.parquet").remove_metadata()
        assert {f.name: f.type for f in ours} == {f.name: f.type for f in theirs}, folder
    same_order = next(f for f in WHEEL_TABLES[table] if "trtllm" not in f)    # vLLM / NCCL column order
    assert ours.equals(pq.read_schema(wheel_dir() / H200 / same_order / f"{table}.parquet").remove_metadata())


def _quick(tmp_path, backend=None, **kw):
    request = CollectRequest(system="my_gpu", out=tmp_path, quick=True, **kw)
    return collect(request, backend or FakeBackend())


def test_round_trip_layout_and_values(tmp_path):
    summary = _quick(tmp_path)
    root = tmp_path / "my_gpu"
    expected = {"gemm_perf": root / "gemm/torch/2.5.1+cu124/gemm_perf.parquet",
                "context_attention_perf": root / "attention/torch/2.5.1+cu124/context_attention_perf.parquet",
                "generation_attention_perf": root / "attention/torch/2.5.1+cu124/generation_attention_perf.parquet",
                "nccl_perf": root / "comm/nccl/2.21.5/nccl_perf.parquet"}
    assert {t.name: t.path for t in summary.tables} == expected
    for t in summary.tables:
        table = pq.read_table(t.path)
        assert table.schema.remove_metadata().equals(s.arrow_schema(s.TABLES[t.name]))
        rows = table.to_pylist()
        assert len(rows) == t.rows > 0 and t.skipped == 0 and t.status == "partial"   # quick → partial
        assert {r["device"] for r in rows} == {"NVIDIA Fake GPU"} and {r["framework"] for r in rows} == {"torch"}
    gemm = pq.read_table(expected["gemm_perf"]).to_pylist()
    assert {r["gemm_dtype"] for r in gemm} == {"bfloat16", "fp8"} and {r["version"] for r in gemm} == {"2.5.1+cu124"}
    from sloplan.perfdb.collector.grid import GemmCase
    for r in gemm:
        case = GemmCase(r["gemm_dtype"], r["m"], r["n"], r["k"])
        assert r["latency"] == pytest.approx(fake_seconds(case) * 1e3, rel=1e-12)      # seconds → ms


def test_attention_rows_use_the_tables_conventions(tmp_path):
    _quick(tmp_path, ops=("attention",))
    folder = tmp_path / "my_gpu/attention/torch/2.5.1+cu124"
    ctx = pq.read_table(folder / "context_attention_perf.parquet").to_pylist()
    gen = pq.read_table(folder / "generation_attention_perf.parquet").to_pylist()
    assert all(r["step"] == 0 and r["isl"] > 1 and r["op_name"] == "context_attention" for r in ctx)
    assert all(r["isl"] == 1 and r["step"] in (1023, 4095) for r in gen)        # kv_len 1024/4096 → step
    assert all(r["beam_width"] == 1 and r["window_size"] == 0 and r["attn_dtype"] == "bfloat16" for r in ctx + gen)
    meta = yaml.safe_load((folder / "collection_meta.yaml").read_text())
    assert set(meta["tables"]) == {"context_attention_perf", "generation_attention_perf"}


def test_metadata_has_the_wheels_keys_and_the_run_facts(tmp_path):
    summary = _quick(tmp_path, ops=("gemm",))
    meta = yaml.safe_load(summary.meta_paths[0].read_text())
    assert meta["schema_version"] == 1 and meta["provenance"] == "collected"
    assert meta["runtime"] == {"framework": "torch", "version": "2.5.1+cu124"}
    assert meta["tables"] == {"gemm_perf": {"status": "partial"}}
    c = meta["collector"]
    for key in ("gpu", "driver", "cuda", "torch", "date", "sloplan_version", "grid", "timing"):
        assert key in c, key
    assert c["gpu"] == "NVIDIA Fake GPU" and c["driver"] == "550.54" and c["cuda"] == "12.4"
    assert c["timing"]["warmup"] > 0 and c["timing"]["iterations"] > 0
    assert c["grid"]["gemm_perf"]["cases"] == len(pq.read_table(summary.tables[0].path))
    assert 4097 in c["grid"]["gemm_perf"]["m"] or 1025 in c["grid"]["gemm_perf"]["m"]


def test_perfdb_reader_finds_and_reads_the_output(tmp_path):
    """The layout perfdb's own helpers (and so the --perfdb overlay) expect."""
    _quick(tmp_path)
    root = tmp_path / "my_gpu"
    assert version_dirs(root, "gemm", "torch", "gemm_perf.parquet") == ("2.5.1+cu124",)
    assert version_dirs(root, "attention", "torch", "context_attention_perf.parquet") == ("2.5.1+cu124",)
    assert version_dirs(root, "comm", "nccl", "nccl_perf.parquet") == ("2.21.5",)
    cols = read_columns(root / "gemm/torch/2.5.1+cu124/gemm_perf.parquet", ["m", "n", "k", "latency"],
                        ["gemm_dtype", "kernel_source"])
    assert (cols["latency"] > 0).all() and set(cols["kernel_source"]) == {"torch.matmul", "torch._scaled_mm"}


def test_full_run_without_skips_is_complete_and_skips_are_partial(tmp_path):
    req = CollectRequest(system="g", out=tmp_path, ops=("gemm",), dtypes=("bfloat16",), budget_bytes=1 << 22)
    summary = collect(req, FakeBackend())
    assert summary.tables[0].status == "complete" and summary.tables[0].skipped == 0
    summary = collect(CollectRequest(system="h", out=tmp_path, ops=("gemm",), dtypes=("bfloat16",),
                                     budget_bytes=1 << 22), FakeBackend(fail_every=10))
    t = summary.tables[0]
    assert t.status == "partial" and t.skipped == (t.rows + t.skipped) // 10
    meta = yaml.safe_load(summary.meta_paths[0].read_text())
    assert meta["collector"]["skipped"]["gemm_perf"] == {"count": t.skipped, "reasons": ["RuntimeError: unsupported"]}


def test_fp8_and_nccl_are_skipped_with_a_note_where_the_machine_cannot(tmp_path):
    summary = _quick(tmp_path, backend=FakeBackend(device=fake_device(gpus=1, cc="8.0")), ops=("gemm", "nccl"))
    assert [t.name for t in summary.tables] == ["gemm_perf"]
    assert {r["gemm_dtype"] for r in pq.read_table(summary.tables[0].path).to_pylist()} == {"bfloat16"}
    notes = " ".join(summary.messages)
    assert "fp8 GEMM skipped" in notes and "NCCL skipped" in notes
    assert not (tmp_path / "my_gpu/comm").exists()


def test_interrupted_run_keeps_what_was_measured(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _quick(tmp_path, backend=FakeBackend(interrupt_at=5), ops=("gemm", "attention"))
    path = tmp_path / "my_gpu/gemm/torch/2.5.1+cu124/gemm_perf.parquet"
    assert pq.read_table(path).num_rows == 5
    assert not (tmp_path / "my_gpu/attention").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_writer_rejects_bad_rows_and_leaves_no_file(tmp_path):
    row = {c: 1 for c in s.GEMM.column_names} | {"framework": "torch", "latency": float("nan")}
    path = tmp_path / "x" / "gemm_perf.parquet"
    with pytest.raises(ValueError, match="latency"):
        write_table(path, s.GEMM, [row])
    with pytest.raises(ValueError, match="columns"):
        write_table(path, s.GEMM, [{"m": 1, "latency": 1.0}])
    assert not path.exists() and not list(tmp_path.rglob("*.tmp"))


def test_the_perfdb_overlay_accepts_the_output_folder(tmp_path):
    from sloplan.perfdb.overlay import open_overlay

    collect(CollectRequest(system="h100_sxm", out=tmp_path, quick=True, ops=("gemm",)), FakeBackend())
    assert open_overlay(tmp_path).system_dir("h100_sxm") == (tmp_path / "h100_sxm").resolve()


def test_cli_success_path_with_a_fake_backend(tmp_path, monkeypatch, capsys):
    import sloplan.perfdb.collector as pkg
    from sloplan.cli_collect import collect as cli_collect

    monkeypatch.setattr(pkg, "run_collect", lambda request, progress=None: collect(request, FakeBackend(), progress))
    cli_collect(system_name="my_gpu", ops="gemm", out=tmp_path, dtypes="bf16", quick=True)
    out, err = capsys.readouterr()
    assert "gemm_perf: 99 rows (0 skipped, partial)" in out and "collection_meta.yaml" in out
    assert "gemm_perf 99/99 (100%)" in err and "not a catalog system" in err
    assert (tmp_path / "my_gpu/gemm/torch/2.5.1+cu124/gemm_perf.parquet").is_file()
