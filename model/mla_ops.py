"""Op decomposition of multi-head latent attention (MLA: DeepSeek-V3/R1, Kimi-K2/K2.5), per phase.

Three entry points, as model/ops.py has for dense models; every count covers all layers of one pass:

* `linear_terms(arch, engine, tokens)`: what every token of a step runs, context or decode —
  the input add+norm, the fused q_a + kv_a down-projection GEMM (N = q_lora + kv_lora + rope, K = hidden,
  replicated on every TP rank: not split), the q_b up-projection (N = heads/tp x (nope + rope), K = q_lora),
  the latent norms and RoPE / latent-cache write (element-wise), the output projection o_proj
  (N = hidden, K = heads/tp x v_head), and its all-reduce when tp > 1.
* `context_attention(arch, engine, batch, new_tokens, prefix)`: the kv_b up-projection that decompresses
  the latent of every key (N = heads/tp x (nope + v), K = kv_lora; over the prefix's tokens too, whose
  latents are read back from the cache) and the context MLA kernel (`PerfDB.context_mla`).
* `generation_attention(arch, engine, batch, kv_len)`: decode's absorbed path: the BMM that folds W_UK
  into the query (`PerfDB.mla_bmm` pre), the MQA-style kernel over the cached latent
  (`PerfDB.generation_mla`), and the BMM that applies W_UV (post); kv_b never runs as a GEMM.

`module=True` prices the attention from the whole-module tables instead (`PerfDB.mla_module`: TRT-LLM /
vLLM measured the DeepSeek-V3 attention module's forward, down- and up-projections + kernel + o_proj, on one
GPU with heads/tp heads): `linear_terms` then keeps only the add+norm and the all-reduce, the module terms
carry the rest. The module table has no prefix axis, so a prefix adds the per-op difference (kv_b over
the prefix's tokens + kernel(prefix) - kernel(no prefix)).

Which to use: `prefers_module(backend)`. The module where the framework ships no kernel tables (vLLM:
only modules are collected, so per-op would be roofline); per-op elsewhere (TRT-LLM, SGLang), because it
prices prefixes and mixed steps with measured kernels and splits GEMMs from attention the way the
aggregated step shares them. tests/test_mla_ops.py measures how far the two agree where both exist.

Heads are per attention-TP rank (heads / tp); attention-DP ranks each run their own `batch`, so `dp` does
not change a shape. Latent cache per token: `latent_elems_per_token` (not split by TP; memory is
model/kv_cache.py's). The tables were collected for the DeepSeek-V3 geometry (q/k 128 + 64, v 128, latent
512 + 64, hidden 7168, q_lora 1536); another geometry is priced from them at tier EXTRAPOLATED at best.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.enums import Backend, GemmQuant
from sloplan.perfdb import Tier

from . import attention_terms as at
from .arch import ModelArch
from .attention import MlaGeometry
from .engine import Engine
from .weight_format import WeightFormat
from sloplan.perfdb.queries import ContextMla, GenerationMla, MlaBmm, MlaModule
from .ops import Op, OpGroup, Term

# the geometry every MLA table was collected for (DeepSeek-V3); heads are an axis of the tables
TABLE_GEOMETRY = MlaGeometry(num_heads=128, q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
                             qk_rope_head_dim=64, v_head_dim=128)
TABLE_HIDDEN = 7168
MODULE_BACKENDS = frozenset({Backend.VLLM})  # frameworks whose MLA kernels were collected only as modules


def prefers_module(backend: Backend | str) -> bool:
    """Whether `backend`'s MLA is best priced from the whole-module tables (see the module docstring)."""
    return Backend(backend) in MODULE_BACKENDS


def latent_elems_per_token(arch: ModelArch) -> int:
    """Cache elements one MLA layer keeps per token: the compressed latent plus the shared RoPE key, on every
    attention-TP rank (each attends with all of it; peer §1.4)."""
    m = arch.attention.mla
    return m.kv_lora_rank + m.qk_rope_head_dim


def kernel_floor(m: MlaGeometry) -> int:
    """Least tier a kernel-table answer may claim for this geometry (heads aside)."""
    g = TABLE_GEOMETRY
    same = (m.kv_lora_rank, m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim) == (
        g.kv_lora_rank, g.qk_nope_head_dim, g.qk_rope_head_dim, g.v_head_dim)
    return int(Tier.MEASURED if same else Tier.EXTRAPOLATED)


def module_floor(arch: ModelArch) -> int:
    """As `kernel_floor`, for the module tables, which also contain the projections (hidden, q_lora)."""
    m = arch.attention.mla
    same = arch.hidden_size == TABLE_HIDDEN and m.q_lora_rank == TABLE_GEOMETRY.q_lora_rank
    return max(kernel_floor(m), int(Tier.MEASURED if same else Tier.EXTRAPOLATED))


def bmm_dtype(engine: Engine) -> str:
    """The absorbed BMMs run in FP8 under any quantized GEMM mode, else BF16 (the peer's rule)."""
    return "bf16" if engine.quant.gemm is GemmQuant.BF16 else "fp8"


def weight_dtype(arch: ModelArch, engine: Engine, *names: str) -> str:
    """The GEMM table dtype of the attention projection `names` (fused ones: all of them): BF16 where the
    checkpoint's exclusion list left every one unquantized, else the engine's GEMM format. NVIDIA's NVFP4
    DeepSeek releases keep q_a / q_b / kv_a / kv_b in BF16 and quantize o_proj (model/catalog/models.yaml),
    Kimi-K2.5-NVFP4 keeps all of self_attn in BF16: a decode step runs those GEMMs on the BF16 kernels,
    which at a few tokens are about half the NVFP4 table's time (its small-m floor is ~18 us on B200 /
    GB200, BF16's 5-9 us)."""
    fmts = {w.fmt for g in arch.groups for w in g.weights if w.gemm and w.name.rsplit(".", 1)[-1] in names}
    if fmts == {WeightFormat.BF16} and arch.checkpoint_format is not WeightFormat.BF16:
        return "bf16"
    return engine.quant.gemm.value


def _geometry(arch: ModelArch) -> MlaGeometry:
    if arch.attention.mla is None:
        raise ValueError(f"{arch.name}: not an MLA model (attention {arch.attention.kind.value})")
    return arch.attention.mla


def linear_terms(arch: ModelArch, engine: Engine, tokens, module: bool = False) -> tuple[Term, ...]:
    """The attention block's work for `tokens` tokens, whatever their phase (see the module docstring)."""
    m, h = _geometry(arch), arch.hidden_size
    tokens, L = at.tokens_of(tokens), at.layers(arch, engine)
    heads = at.heads_per_gpu(m.num_heads, engine)
    terms = [at.elementwise(tokens, at.add_norm_elems(h), L)]
    if not module:
        if m.q_lora_rank:
            down_n = m.q_lora_rank + m.kv_lora_rank + m.qk_rope_head_dim
            down_q = weight_dtype(arch, engine, "q_a_proj", "kv_a_proj_with_mqa")
            terms += [at.gemm(tokens, down_n, h, down_q, L, Op.MLA_DOWN_GEMM),
                      at.gemm(tokens, heads * m.qk_head_dim, m.q_lora_rank, weight_dtype(arch, engine, "q_b_proj"), L,
                              Op.MLA_Q_UP_GEMM)]
        else:  # queries straight from hidden (DeepSeek-V2-Lite): q_proj is column-split
            terms += [at.gemm(tokens, m.kv_lora_rank + m.qk_rope_head_dim, h,
                              weight_dtype(arch, engine, "kv_a_proj_with_mqa"), L, Op.MLA_DOWN_GEMM),
                      at.gemm(tokens, heads * m.qk_head_dim, h, weight_dtype(arch, engine, "q_proj"), L,
                              Op.MLA_Q_UP_GEMM)]
        # q_a / kv_a norms, RoPE on q and the shared key, the latent written to the cache
        ew = 2 * (m.q_lora_rank + m.kv_lora_rank) + 2 * (heads + 1) * m.qk_rope_head_dim + latent_elems_per_token(arch)
        terms += [at.elementwise(tokens, ew, L),
                  at.gemm(tokens, h, heads * m.v_head_dim, weight_dtype(arch, engine, "o_proj"), L, Op.ATTN_OUT_GEMM)]
    return tuple(terms + at.all_reduce(tokens, h, engine, L))


def linear_ops(arch: ModelArch, engine: Engine, tokens, module: bool = False) -> OpGroup:
    return OpGroup(linear_terms(arch, engine, tokens, module))


def _kv_b(arch: ModelArch, engine: Engine, tokens, count: float) -> Term:
    m = arch.attention.mla
    heads = at.heads_per_gpu(m.num_heads, engine)
    return at.gemm(at.tokens_of(tokens), heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank,
                   weight_dtype(arch, engine, "kv_b_proj"), count, Op.MLA_KV_UP_GEMM)


def _kernel_key(arch: ModelArch, engine: Engine) -> tuple:
    m = _geometry(arch)
    return at.heads_per_gpu(m.num_heads, engine), engine.quant.kv.value, kernel_floor(m)


def context_attention(arch: ModelArch, engine: Engine, batch, new_tokens, prefix, module: bool = False) -> OpGroup:
    """Prefill of `batch` requests of `new_tokens` each over `prefix` cached tokens (module docstring)."""
    b, s, p = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(batch, new_tokens, prefix))
    L, key = at.layers(arch, engine), _kernel_key(arch, engine)
    heads, kv, floor = key
    kernel = Term(ContextMla(b, s, p, heads, kv), L, Op.CONTEXT_MLA, floor=floor)
    if not module:
        return OpGroup((_kv_b(arch, engine, b * (s + p), L), kernel))
    terms = [Term(MlaModule("context", b, s, heads, kv, engine.quant.gemm.value), L, Op.MLA_CONTEXT_MODULE,
                  floor=module_floor(arch))]
    if np.any(p > 0):  # the module was measured without a prefix: add what the prefix costs on top
        terms += [_kv_b(arch, engine, b * p, L), kernel,
                  Term(ContextMla(b, s, 0.0, heads, kv), -L, Op.CONTEXT_MLA, floor=floor)]
    return OpGroup(tuple(terms))


def generation_attention(arch: ModelArch, engine: Engine, batch, kv_len, module: bool = False) -> OpGroup:
    """One decode step for `batch` requests holding `kv_len` cached tokens each (module docstring)."""
    batch = np.asarray(batch)
    b = np.maximum(batch, 1)
    L, (heads, kv, floor) = at.layers(arch, engine), _kernel_key(arch, engine)
    if module:
        module_query = MlaModule("generation", b, kv_len, heads, kv, engine.quant.gemm.value)
        terms = (Term(module_query, L, Op.MLA_GENERATION_MODULE, floor=module_floor(arch)),)
    else:
        dt = bmm_dtype(engine)
        terms = (Term(MlaBmm(b, heads, dt, "pre"), L, Op.MLA_BMM_PRE, floor=floor),
                 Term(GenerationMla(b, kv_len, heads, kv), L, Op.GENERATION_MLA, floor=floor),
                 Term(MlaBmm(b, heads, dt, "post"), L, Op.MLA_BMM_POST, floor=floor))
    return OpGroup(terms, active=batch > 0)
