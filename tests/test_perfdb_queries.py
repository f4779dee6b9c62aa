"""Typed queries and the thin facade (issue 11 bullet 2, step e): `db.latency(query)` dispatches on the query's
type through the family registry, and every per-family method is a wrapper with the query's fields."""
import dataclasses
import inspect

import numpy as np
import pytest

from sloplan.perfdb import PerfDB, load_perfdb
from sloplan.perfdb import family, queries
from sloplan.perfdb.perfdb import register_all_families
from sloplan.perfdb.queries import Gemm, GenerationAttention, Moe, QUERIES

WRAPPER = {  # query type → the PerfDB method that wraps it (the notebook API)
    queries.Gemm: "gemm", queries.ContextAttention: "context_attention",
    queries.GenerationAttention: "generation_attention", queries.AllReduce: "all_reduce", queries.P2p: "p2p",
    queries.MemoryOp: "memory_op", queries.Embedding: "embedding", queries.Nccl: "nccl", queries.MoeA2a: "moe_a2a",
    queries.NvlinkA2a: "nvlink_a2a",
    queries.Moe: "moe", queries.ContextMla: "context_mla", queries.GenerationMla: "generation_mla",
    queries.MlaModule: "mla_module", queries.MlaBmm: "mla_bmm", queries.DsaModule: "dsa_module",
    queries.Glm5Kernel: "glm5_kernel", queries.Gdn: "gdn", queries.Mamba2: "mamba2", queries.Quantize: "quantize",
    queries.GemmFp8Static: "gemm_fp8_static", queries.EncoderAttention: "encoder_attention", queries.Mhc: "mhc",
    queries.WideEpMoe: "wideep_moe", queries.WideEpMla: "wideep_mla", queries.WideEpMlp: "wideep_mlp",
    queries.DeepEp: "deepep", queries.DeepEpMoe: "deepep_moe", queries.DeepEpStep: "deepep_step"}


@pytest.fixture(scope="module")
def db():
    return load_perfdb("h200_sxm", "trtllm")


def test_every_query_type_has_an_answer_and_names_a_registered_family():
    register_all_families()  # families register on first use; alone in a process, none is used yet
    assert len(QUERIES) == len(set(QUERIES)) == len(WRAPPER) >= 26 and set(WRAPPER) == set(QUERIES)
    for cls in QUERIES:
        assert cls in family.ANSWERS, cls.__name__
        assert cls.family is None or cls.family in family.FAMILIES, (cls.__name__, cls.family)
    assert {c.family for c in QUERIES} - {None} == set(family.FAMILIES)  # every family answers something


def test_perfdb_is_a_facade_not_a_class_over_mixins():
    assert PerfDB.__mro__ == (PerfDB, object)


@pytest.mark.parametrize("cls", QUERIES, ids=lambda c: c.__name__)
def test_each_wrapper_takes_exactly_the_query_fields(cls):
    params = list(inspect.signature(getattr(PerfDB, WRAPPER[cls])).parameters.values())[1:]
    assert [p.name for p in params] == list(cls.FIELDS) and cls.FIELDS
    assert {p.name: p.default for p in params if p.default is not inspect.Parameter.empty} == cls.DEFAULTS
    assert list(cls.DEFAULTS) == list(cls.FIELDS[len(cls.FIELDS) - len(cls.DEFAULTS):])  # trailing, as in a call


def test_latency_equals_the_wrapper_bit_for_bit(db):
    m = np.array([1, 17, 300, 4097])
    cases = [(Gemm(m, 4096, 4096, "fp8"), db.gemm(m, 4096, 4096, "fp8")),
             (Gemm(m, 4096, 4096, "fp8_static"), db.gemm_fp8_static(m, 4096, 4096)),
             (GenerationAttention(m, 1000, 32, 8, 128, 0, "fp8"),
              db.generation_attention(m, 1000, 32, 8, 128, 0, "fp8")),
             (Moe(m, 7168, 2048, 8, 256, 1, 8, "fp8_block"), db.moe(m, 7168, 2048, 8, 256, 1, 8, "fp8_block"))]
    for query, old in cases:
        new = db.latency(query)
        assert np.array_equal(new.latency_s, old.latency_s) and np.array_equal(new.tier, old.tier), query
        assert (new.latency_s > 0).all()


def test_queries_bind_like_a_call_are_frozen_and_a_non_query_is_refused(db):
    q = Gemm(1, 2, k=3, dtype="bf16")
    assert (q.m, q.n, q.k, q.dtype) == (1, 2, 3, "bf16") and repr(q) == "Gemm(m=1, n=2, k=3, dtype='bf16')"
    assert Moe(1, 2, 3, 4, 5, 6, 7).distribution == "power_law_1.2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.n = 5
    for bad in (lambda: Gemm(1, 2, 3), lambda: Gemm(1, 2, 3, "bf16", 5), lambda: Gemm(1, 2, 3, n=4),
                lambda: Gemm(1, 2, 3, d="bf16")):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TypeError, match="not a perfdb query"):
        db.latency(("gemm", 1, 2, 3, "bf16"))


T = np.array([1, 3, 17, 300, 4097])
VALID = [  # one query of every type, with array fields (batch.py groups by the scalar ones)
    queries.Gemm(T, 4096, 4096, "fp8"), queries.Gemm(T, 5120, 5120, "nvfp4"),
    queries.ContextAttention(np.array([1, 2, 8, 1, 4]), T, np.array([0, 100, 2000, 5, 0]), 32, 8, 128, 0, "fp8"),
    queries.GenerationAttention(T, 1000, 32, 8, 128, 1024, "bf16"), queries.AllReduce(T * 1000, 16),
    queries.P2p(T * 1000, True), queries.MemoryOp(T * 100), queries.Embedding(T, 4096),
    queries.Nccl("all_gather", T * 100, 16), queries.MoeA2a(T, 7168, 8, 256, 12),
    queries.NvlinkA2a(T, 7168, 8, 256, 32, queries.NvlinkOp.COMBINE, "nvfp4"),
    queries.Moe(T, 7168, 2048, 8, 256, 1, 8, "fp8_block"), queries.Moe(T, 1234, 567, 3, 9, 1, 1, "nvfp4"),
    queries.ContextMla(2, T, 7, 16, "fp8"), queries.GenerationMla(T, 2000, 32),
    queries.MlaModule("generation", T, 1024, 16, "fp8", "bf16"), queries.MlaBmm(T, 64, "nvfp4", "pre"),
    queries.DsaModule("context", 1, T, 64, "bf16", "fp8_block", "glm5", 300),
    queries.Glm5Kernel("dsa_attn", 2, T, T * 2),
    queries.Gdn("context", 2, T, 16, 32), queries.Mamba2("generation", T, 1, 128), queries.Quantize(T, 7168),
    queries.GemmFp8Static(T, 4096, 4096, True), queries.EncoderAttention(2, T, 16, 80), queries.Mhc("pre", T, 7168),
    queries.WideEpMoe(T, 7168, 2048, 8, 256, 32), queries.WideEpMla("context", 2, T, 16),
    queries.WideEpMlp("generation", T, 4096, 1024, "bf16"),
    queries.DeepEp(T, 7168, 8, 256, "combine", "ht", 2, 24),
    queries.DeepEpMoe(T * 32, np.array([1, 0, 1, 0, 1]), 7168, 2048, 8, 256, 32),
    queries.DeepEpStep(T, np.array([1, 1, 0, 0, 1]), 7168, 8, 256, "combine", 2)]


def _variants(query):
    """The query and two more with other array values (a scalar one, a 2-D one) and the same scalar fields."""
    cls = type(query)
    vals = {f: getattr(query, f) for f in cls.FIELDS}
    scalar = cls(**{**vals, **{f: 64 for f in cls.ARRAYS}})
    grid2d = cls(**{**vals, **{f: np.array([[5.0, 900.0], [33.0, 2.0]]) for f in cls.ARRAYS}})
    return [query, scalar, grid2d]


@pytest.mark.parametrize("system,backend", [("h200_sxm", "trtllm"), ("h200_sxm", "sglang"), ("h100_pcie", "trtllm")])
def test_latencies_batch_every_query_type_exactly(system, backend):
    db = load_perfdb(system, backend)
    asked = [v for q in VALID for v in _variants(q)]
    assert {type(q) for q in asked} == set(QUERIES)
    batched = db.latencies(asked)
    for query, got in zip(asked, batched):
        alone = db.latency(query)
        assert got.latency_s.shape == alone.latency_s.shape, query
        assert np.array_equal(got.latency_s, alone.latency_s) and np.array_equal(got.tier, alone.tier), query
        assert got.tier.dtype == np.int8 and np.isfinite(got.latency_s).all() and (got.latency_s > 0).all()


def test_latencies_ask_one_lookup_per_type_and_scalar_fields(db, monkeypatch):
    calls = []
    real = PerfDB.latency
    monkeypatch.setattr(PerfDB, "latency", lambda self, q: calls.append(type(q)) or real(self, q))
    asked = [Gemm(T, 4096, 4096, "fp8"), Gemm(7, 4096, 4096, "fp8"), Gemm(T, 4096, 1024, "fp8"),
             GenerationAttention(T, 1000, 32, 8, 128, 0, "fp8"), GenerationAttention(3, T, 32, 8, 128, 0, "fp8")]
    db.latencies(asked)
    assert calls == [Gemm, Gemm, GenerationAttention]


def test_a_new_query_kind_is_a_new_record_and_a_registered_function(db):
    """Adding a kind touches no facade code: a Query subclass plus `@family.answers` is all db.latency needs."""
    class Doubled(queries.Query):
        family = "gemm"
        m: queries.Arr
        n: int

    @family.answers(Doubled)
    def doubled(db_, q):
        lk = db_.latency(Gemm(q.m, q.n, q.n, "bf16"))
        return type(lk)(2 * lk.latency_s, lk.tier)
    try:
        assert Doubled.ARRAYS == ("m",)
        got, base = db.latency(Doubled(T, 4096)), db.gemm(T, 4096, 4096, "bf16")
        assert np.array_equal(got.latency_s, 2 * base.latency_s) and np.array_equal(got.tier, base.tier)
        assert np.array_equal(db.latencies([Doubled(T, 4096), Doubled(9, 4096)])[0].latency_s, got.latency_s)
    finally:
        family.ANSWERS.pop(Doubled)
