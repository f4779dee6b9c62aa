"""Typed queries and the thin facade (issue 11 bullet 2, step e): `db.latency(query)` dispatches on the query's
type through the family registry, and every per-family method is a wrapper with the query's fields."""
import dataclasses
import inspect

import numpy as np
import pytest

from sloplan.perfdb import PerfDB, load_perfdb
from sloplan.perfdb import family, queries
from sloplan.perfdb.queries import Gemm, GenerationAttention, Moe, QUERIES

WRAPPER = {  # query type → the PerfDB method that wraps it (the notebook API)
    queries.Gemm: "gemm", queries.ContextAttention: "context_attention",
    queries.GenerationAttention: "generation_attention", queries.AllReduce: "all_reduce", queries.P2p: "p2p",
    queries.MemoryOp: "memory_op", queries.Embedding: "embedding", queries.Nccl: "nccl", queries.MoeA2a: "moe_a2a",
    queries.Moe: "moe", queries.ContextMla: "context_mla", queries.GenerationMla: "generation_mla",
    queries.MlaModule: "mla_module", queries.MlaBmm: "mla_bmm", queries.DsaModule: "dsa_module",
    queries.Glm5Kernel: "glm5_kernel", queries.Gdn: "gdn", queries.Mamba2: "mamba2", queries.Quantize: "quantize",
    queries.GemmFp8Static: "gemm_fp8_static", queries.EncoderAttention: "encoder_attention", queries.Mhc: "mhc",
    queries.WideEpMoe: "wideep_moe", queries.WideEpMla: "wideep_mla", queries.WideEpMlp: "wideep_mlp",
    queries.DeepEp: "deepep"}


@pytest.fixture(scope="module")
def db():
    return load_perfdb("h200_sxm", "trtllm")


def test_every_query_type_has_an_answer_and_names_a_registered_family():
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
