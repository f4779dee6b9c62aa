"""Op decomposition of DSA sparse MLA (DeepSeek-V3.2, GLM-5): MLA whose keys a lightning indexer selects.

Same three entry points as model/mla_ops.py; every count covers all layers of one pass.

Default (`module=True`): the whole-module tables (`PerfDB.dsa_module`, shipped by TRT-LLM, vLLM and SGLang
for both DeepSeek-V3.2 and GLM-5): one lookup per phase holds the MLA down/up projections, the indexer's
projections, its FP8 logits over every cached key, the top-k selection, the sparse MLA kernel over at most
`topk` keys and o_proj, on one GPU with heads/tp heads.
* `linear_terms(arch, engine, tokens)`: the input add+norm and the o_proj all-reduce (tp > 1).
* `context_attention(arch, engine, batch, new_tokens, prefix)`: the context module (its prefix axis is the
  table's own: looked up at the full length, scaled by the new tokens' share of the top-k capped pairs).
* `generation_attention(arch, engine, batch, kv_len)`: the generation module at KV length `kv_len`.

Per op (`module=False`; kernel tables exist only as SGLang's GLM-5 kernels, 64 heads, `PerfDB.glm5_kernel`):
* `linear_terms`: MLA's projections and latent element-wise work (model/mla_ops.linear_terms) plus the
  indexer's projections (wq_b from the q latent, wk and the head weights from hidden; replicated on every TP
  rank, as the indexer is).
* context / generation: the absorbed BMMs (`PerfDB.mla_bmm` pre / post: the sparse kernel attends in the
  latent space in both phases), the indexer logits (`mqa_logits`, every query against every key), the top-k
  (`topk`), and the sparse kernel (`dsa_attn`), scaled to heads/tp from its 64 heads. Any geometry or head
  count but GLM-5's at 64 heads per GPU is priced at tier EXTRAPOLATED at best.
The two paths are compared in tests/test_sparse_attention_ops.py.
"""
from __future__ import annotations

import numpy as np

from sloplan.perfdb import Tier

from . import attention_terms as at
from . import mla_ops
from .arch import ModelArch
from .engine import Engine
from sloplan.perfdb.queries import DsaModule, Glm5Kernel, MlaBmm
from .ops import Op, OpGroup, Term

# the slices of the DSA module tables (perfdb/sparse.py names them by architecture); others answer from
# the DeepSeek-V3.2 slice at tier EXTRAPOLATED
TABLE_MODELS = {"DeepseekV32ForCausalLM": "dsv32", "GlmMoeDsaForCausalLM": "glm5"}
GLM5_KERNEL_HEADS = 64  # heads per GPU of SGLang's GLM-5 kernel tables
GLM5_ARCHITECTURE = "GlmMoeDsaForCausalLM"


def prefers_module(backend=None) -> bool:
    """DSA is priced from its module tables on every framework: they are the only tables all of them ship."""
    return True


def _check(arch: ModelArch) -> None:
    if arch.attention.indexer is None:
        raise ValueError(f"{arch.name}: not a DSA sparse-attention model (attention {arch.attention.kind.value})")


def linear_terms(arch: ModelArch, engine: Engine, tokens, module: bool = True) -> tuple[Term, ...]:
    """The attention block's work for `tokens` tokens, whatever their phase (see the module docstring)."""
    _check(arch)
    if module:
        return mla_ops.linear_terms(arch, engine, tokens, module=True)
    m, i, h = arch.attention.mla, arch.attention.indexer, arch.hidden_size
    tokens, L, q = at.tokens_of(tokens), at.layers(arch, engine), engine.quant.gemm.value
    idx = [at.gemm(tokens, i.num_heads * i.head_dim, m.q_lora_rank or h, q, L, Op.DSA_INDEXER_GEMM),
           at.gemm(tokens, i.head_dim, h, q, L, Op.DSA_INDEXER_GEMM),
           at.gemm(tokens, i.num_heads, h, "bf16", L, Op.DSA_INDEXER_GEMM),
           at.elementwise(tokens, 2 * i.head_dim + 2 * i.num_heads * i.head_dim, L)]  # k norm, RoPE, FP8 key write
    return mla_ops.linear_terms(arch, engine, tokens, module=False) + tuple(idx)


def linear_ops(arch: ModelArch, engine: Engine, tokens, module: bool = True) -> OpGroup:
    return OpGroup(linear_terms(arch, engine, tokens, module))


def _module_key(arch: ModelArch, engine: Engine, phase: str) -> tuple:
    heads = at.heads_per_gpu(arch.attention.mla.num_heads, engine)
    model = TABLE_MODELS.get(arch.architecture, arch.architecture.lower())
    return phase, heads, engine.quant.kv.value, engine.quant.gemm.value, model


def _kernels(arch: ModelArch, engine: Engine, tokens, b, q, kv, count: float) -> list[Term]:
    """Per-op sparse attention of `q` queries per request over `kv` keys (per-op path)."""
    heads = at.heads_per_gpu(arch.attention.mla.num_heads, engine)
    exact = arch.architecture == GLM5_ARCHITECTURE and heads == GLM5_KERNEL_HEADS
    floor = int(Tier.MEASURED if exact else Tier.EXTRAPOLATED)
    bmm_floor = max(floor, mla_ops.kernel_floor(arch.attention.mla))
    dt = mla_ops.bmm_dtype(engine)
    glm5 = lambda op: Glm5Kernel(op, b, q, kv, "flat")  # noqa: E731  (top-k: flat scores)
    return [Term(MlaBmm(tokens, heads, dt, "pre"), count, Op.MLA_BMM_PRE, floor=bmm_floor),
            Term(glm5("mqa_logits"), count, Op.DSA_INDEXER_LOGITS, floor=floor),
            Term(glm5("topk"), count, Op.DSA_TOPK, floor=floor),
            Term(glm5("dsa_attn"), count * heads / GLM5_KERNEL_HEADS, Op.DSA_SPARSE_ATTENTION, floor=floor),
            Term(MlaBmm(tokens, heads, dt, "post"), count, Op.MLA_BMM_POST, floor=bmm_floor)]


def context_attention(arch: ModelArch, engine: Engine, batch, new_tokens, prefix, module: bool = True) -> OpGroup:
    """Prefill of `batch` requests of `new_tokens` each over `prefix` cached tokens (module docstring)."""
    _check(arch)
    b, s, p = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(batch, new_tokens, prefix))
    L = at.layers(arch, engine)
    if module:
        phase, heads, kv, gemm, model = _module_key(arch, engine, "context")
        query = DsaModule(phase, b, s, heads, kv, gemm, model, p)
        return OpGroup((Term(query, L, Op.DSA_CONTEXT_MODULE),))
    return OpGroup(tuple(_kernels(arch, engine, at.tokens_of(b * s), b, s, s + p, L)))


def generation_attention(arch: ModelArch, engine: Engine, batch, kv_len, module: bool = True) -> OpGroup:
    """One decode step for `batch` requests holding `kv_len` cached tokens each (module docstring)."""
    _check(arch)
    batch = np.asarray(batch)
    b = np.maximum(batch, 1)
    L = at.layers(arch, engine)
    if module:
        phase, heads, kv, gemm, model = _module_key(arch, engine, "generation")
        query = DsaModule(phase, b, kv_len, heads, kv, gemm, model, 0.0)
        return OpGroup((Term(query, L, Op.DSA_GENERATION_MODULE),), active=batch > 0)
    kv = np.asarray(kv_len, dtype=np.float64) + 1.0  # the new token's key is attended too
    return OpGroup(tuple(_kernels(arch, engine, b, b, 1.0, kv, L)), active=batch > 0)
