"""The parallel layout a silicon_sample.csv row was measured with, recovered from its own columns.

`estimate --from-csv` reads tp_size, attention_dp_size, moe_tp_size and moe_ep_size through `recover`.
Most rows say what ran. Some benchmark campaigns wrote their layouts in another convention; where the
row's columns and its source note (`silicon_data_source`) determine the layout, the row is mapped and
says so (`layout_note`); where they do not, the row is refused naming the columns — never a guess.
The rules were worked out on the development split only (design.md, Contracts):

0. **Not recorded.** An empty or 0 attention_dp_size, moe_tp_size or moe_ep_size was not recorded (the
   sample writes 0 or leaves them empty on dense rows). attention_dp_size then is 1 unless rule 3 derives
   it; the MoE split is left to the estimator (a dense model has none; a MoE model's default is
   tensor-parallel experts over tp × dp GPUs, what every framework runs without an expert-parallel flag).
1. **Width written as tp·ep (2026-04-06 campaign).** The rows whose note names `source_file=2026-04-06.csv`
   or `db-dump/2026-04-27` (one campaign: the same runs, the db-dump ids carry its config ids) write a
   run launched with `--tp X --ep X` as moe_tp_size = moe_ep_size = X and tp_size (attention_dp_size
   under TRT-LLM's attention DP) = X·X: 64 for one 8-GPU node at tp 8 / ep 8, 16 for tp 4 / ep 4, 4 for
   tp 2 / ep 2. The campaign's ids say `_tp8_ep8_` on exactly these rows; the framework's own rule says
   X GPUs (TRT-LLM's tp_size is the world size and moe_tp·moe_ep = tp_size; SGLang's ep divides tp);
   tp 64 would put Qwen3.5-397B's 32 heads on 64 ranks; and at the same concurrency the rows measure
   the TPOT of one node, not of eight. Mapped to tp X (attention DP: tp 1, dp X), moe_tp 1, moe_ep X.
   Under attention DP the campaign's batch_size counts the clients per recorded DP rank (rule 7).
2. **vLLM's EP written as DP (same campaign).** Its vLLM rows write `--tensor-parallel-size X
   --enable-expert-parallel` as tp_size = attention_dp_size = X, moe_ep_size = X·X. vLLM has no EP size
   of its own (EP spans tp × dp GPUs) and every such row has dp = tp, which a real DP sweep would not;
   mapped to tp X, dp 1, moe_tp 1, moe_ep X. Its batch_size counts clients per recorded DP rank (rule 7):
   Kimi-K2.5 on 4 B200s written tp 4 / dp 4 / ep 16 at batch 1, 2, 4, 16 repeats, TTFT and TPOT to the
   last digit, the rows written tp 4 / ep 4 at batch 4, 8, 16, 64.
3. **Attention DP not recorded.** attention_dp_size empty while moe_tp_size × moe_ep_size = k × tp_size
   with k > 1 (h200 vLLM Qwen3-235B rows: tp 1, moe_tp 2): the MoE layers span tp × dp GPUs in every
   framework, so dp = k is the only layout the row can mean (Qwen3-235B-FP8 does not fit one H200 either).
4. **A GPU count, not a TP degree.** tp_size equal to moe_tp_size with moe_ep_size ≤ 1 and above 16, or
   above 8 and not a power of two (the GB200 rows of the campaign: every multiple of 4 from 12 to 72, at
   concurrencies of 538 to 4300), is the size of a whole NVL72 allocation — a disaggregated run's prefill
   and decode workers together — not one engine's TP: 12, 20, 36 or 72 cannot divide DeepSeek's 128
   heads, and the peer enumerates an aggregated TP only up to 16 there. The row does not say how the GPUs
   split between workers, so it is refused.
5. **Anything else from the campaign with expert parallelism** that matches neither rule 1 nor rule 2 is
   refused: its convention is known, and a row that breaks it cannot be read either way.

6. **vLLM / SGLang experts that FP8 blocks cannot split.** A vLLM or SGLang row (or disaggregated role)
   of a block-scaled FP8 checkpoint whose experts, as recorded (moe_tp = tp × dp, no expert
   parallelism), would be cut into widths that are not whole 128-wide blocks (MiniMax-M2.5 at tp 8:
   1536 / 8 = 192; DeepSeek's 2048 over an SGLang decode worker of attention DP 32: 64). Both
   frameworks' FP8 MoE refuse that split at load, so the run had expert parallelism, their only other
   layout for the same GPUs (vLLM `--enable-expert-parallel`; SGLang `--ep-size`, which its DeepEP
   backend sets to the world size itself, leaving the recorded moe_ep_size at 1): mapped to moe_tp 1,
   moe_ep = tp × dp (`block_scaled_ep`, applied once the served checkpoint is known).

7. **Clients per recorded DP rank.** A row with attention_dp_size D > 1 recorded counts batch_size per DP
   rank as written: the benchmark ran batch_size × D clients. Every such development-split row whose
   silicon_data_source records `silicon_concurrency=N` has N = batch_size × D (the 2026-03-25 rows at
   D = 2, 4, 8; the campaign's at D = 4, 16, 64 and its vLLM rows at D = tp), and the same runs written
   in two conventions agree on N: DeepSeek-R1 on 8 H200s, 2026-03-25 batch 16 / dp 8 and the campaign's
   batch 2 / dp 64, are one measurement (TTFT 3201 ms, TPOT 31.46 ms) with N = 128 in both. Read as the
   engine's clients, batch_size left those engines 8-64x fewer clients than ran (`Layout.clients_per`).

8. **Layouts a campaign recorded as placeholders.** Where a campaign's master config wrote `tp: 1, ep: 1`
   with attention DP for engines its launch scripts ran otherwise, a disaggregated role with attention
   DP and moe_ep_size 1 is read as its launch ran it: expert parallel (moe_tp 1, moe_ep = tp × dp) or
   plain tensor parallel (tp = tp × dp, dp 1, the per-rank batch columns carried over). The campaigns,
   with the scripts that show it, are data (model/catalog/expert_layout.yaml, sloplan/csv_expert_layout.py:
   the December 2025 GB200 SGLang DeepSeek-R1 sweeps, DeepEP on their single-decode-worker entries, TP on
   their low-latency ones).

Rows from other sources are taken as recorded (rules 0, 3, 4 and 7 apply to every row).

**Disaggregated rows' prefill_* and decode_* columns** are read by the same rules, one role at a time
(sloplan/estimate_rows_disagg.py), except that the campaign wrote them in the natural convention: on
every one of its 697 development-split disaggregated rows both roles have moe_tp_size × moe_ep_size =
tp_size × attention_dp_size (prefill 1/4/1/4: attention DP 4 with EP 4 on 4 GPUs; decode 8/1/1/8), and
none has a width of ep·ep. Rules 1, 2 and 5 therefore do not apply there (`campaign=False`); rules 0, 3
and 4 do.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sloplan.core.enums import Backend

from .errors import InputError

FP8_BLOCK = 128  # rule 6: block-scaled FP8 weights carry one scale per 128 x 128 block
CAMPAIGN_NOTES = ("source_file=2026-04-06.csv", "db-dump/2026-04-27")  # rules 1, 2 and 5
LAYOUT_COLUMNS = ("tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size")
MAX_ENGINE_TP = 16  # rule 4: beyond it a tp_size is a GPU count


@dataclass(frozen=True)
class Layout:
    """A row's layout as estimate's arguments: dp defaults to 1; moe_tp/moe_ep None = not recorded."""

    tp: int
    dp: int
    moe_tp: int | None
    moe_ep: int | None
    note: str = ""  # how the row's columns were mapped; empty when taken as recorded
    clients_per: int = 1  # rule 7: batch_size counts the clients of one of this many recorded DP ranks

    def concurrency(self, batch_size: int) -> int:
        """The engine's client concurrency for the row's batch_size."""
        return batch_size * self.clients_per

    def per_rank(self, batch_size: int) -> int:
        """A per-recorded-rank batch column over this layout's DP ranks (the fullest rank's share)."""
        return -(-self.concurrency(batch_size) // self.dp)

    def remapped(self, note: str, **changes) -> "Layout":
        """This layout with `changes`, `note` appended to what it says of the row's mapping."""
        return replace(self, **changes, note="; ".join(n for n in (self.note, note) if n))


def _recorded(value: int | None) -> int | None:
    """Rule 0: 0 or empty is 'not recorded'."""
    return value if value else None


def _campaign(row: dict) -> bool:
    note = row.get("silicon_data_source") or ""
    return any(key in note for key in CAMPAIGN_NOTES)


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


def _shown(tp, dp, mt, me) -> str:
    return "/".join("-" if v is None else str(v) for v in (tp, dp, mt, me))


def recover(row: dict, integer: Callable[[str], int | None], campaign: bool = True) -> Layout:
    """The row's layout; InputError naming the columns when it cannot be recovered.
    `integer(column)` reads one integral column (None when empty), as the CSV reader validates them.
    `campaign`: whether rules 1, 2 and 5 apply to a campaign row (not on a disaggregated row's roles).
    A negative or zero tp_size, or a negative size, is passed on as recorded for the schema to refuse."""
    layout = _layout(row, integer, campaign)
    dp = _recorded(integer("attention_dp_size"))
    if dp is None or dp <= 1:
        return layout
    note = f"batch_size per attention_dp_size {dp} rank: {dp}x the clients (rule 7)"
    return layout.remapped(note, clients_per=dp)


def _layout(row: dict, integer: Callable[[str], int | None], campaign: bool) -> Layout:
    """Rules 0-5 (module docstring)."""
    tp = integer("tp_size")
    tp = 1 if tp is None else tp
    dp, mt, me = (_recorded(integer(c)) for c in LAYOUT_COLUMNS[1:])
    if tp < 1 or any(v is not None and v < 1 for v in (dp, mt, me)):
        return Layout(tp, 1 if dp is None else dp, mt, me)
    recorded = f"{'/'.join(LAYOUT_COLUMNS)} = {_shown(tp, dp, mt, me)}"
    if campaign and _campaign(row) and me is not None and me > 1:
        return _campaign_layout(tp, dp, mt, me, row.get("backend") or "", recorded)
    if mt == tp and (me or 1) == 1 and (dp or 1) == 1 and _gpu_count(tp):
        raise InputError("tp_size", f"{recorded}: tp_size {tp} is the GPU count of a whole allocation (the "
                                    "prefill and decode workers of a disaggregated run), not one engine's tensor "
                                    f"parallelism; the row does not say how they split; accepted: tp_size 1 to "
                                    f"{MAX_ENGINE_TP} (see README, 'Rows with another layout convention')")
    if dp is None and mt is not None and (mt * (me or 1)) % tp == 0 and mt * (me or 1) > tp:
        k = mt * (me or 1) // tp
        return Layout(tp, k, mt, me, f"attention_dp_size {k} from moe_tp_size × moe_ep_size = "
                                     f"{mt * (me or 1)} over tp_size {tp} ({recorded})")
    return Layout(tp, dp or 1, mt, me)


def _gpu_count(tp: int) -> bool:
    """Rule 4's test: no single engine's TP degree."""
    return tp > MAX_ENGINE_TP or (tp > 8 and not _is_power_of_two(tp))


def _campaign_layout(tp: int, dp: int | None, mt: int | None, me: int, backend: str, recorded: str) -> Layout:
    """Rules 1, 2 and 5 for a campaign row with moe_ep_size > 1."""
    width = tp * (dp or 1)
    if mt == me and width == me * me and 1 in (tp, dp or 1):
        x = me
        if (dp or 1) > 1:
            return Layout(1, x, 1, x, f"campaign tp·ep convention: dp {x}, ep {x} on {x} GPUs ({recorded})")
        return Layout(x, 1, 1, x, f"campaign tp·ep convention: tp {x}, ep {x} on {x} GPUs ({recorded})")
    if backend == Backend.VLLM and (mt or 1) == 1 and dp == tp and me == tp * tp:
        return Layout(tp, 1, 1, tp, f"campaign vLLM EP convention: tp {tp}, ep {tp} on {tp} GPUs ({recorded})")
    raise InputError("moe_ep_size", f"{recorded}: the 2026-04-06 campaign writes --tp X --ep X as moe_tp_size = "
                                    "moe_ep_size = X with tp_size (or attention_dp_size) X·X, or for vLLM tp_size = "
                                    "attention_dp_size = X with moe_ep_size X·X; this row matches neither, so its "
                                    "layout cannot be read; accepted: a row in one of those conventions")


BLOCK_SPLIT_BACKENDS = {Backend.VLLM.value: "vLLM", Backend.SGLANG.value: "SGLang"}  # rule 6


def block_scaled_ep(layout: Layout, backend: str, expert_width: int | None, block_fp8: bool,
                    role: str = "") -> Layout:
    """Rule 6: `layout` with the framework's expert parallelism where tensor-parallel experts of
    `expert_width` (None: a dense model) in block-scaled FP8 (`block_fp8`) cannot be split into whole
    blocks. `role`: the note's prefix for a disaggregated role ("decode: ")."""
    width = layout.tp * layout.dp
    tensor_parallel = (layout.moe_ep or 1) == 1 and (layout.moe_tp or width) == width
    if (backend not in BLOCK_SPLIT_BACKENDS or not block_fp8 or not expert_width or width == 1 or not tensor_parallel
            or (expert_width % width == 0 and (expert_width // width) % FP8_BLOCK == 0)):
        return layout
    note = (f"{role}{BLOCK_SPLIT_BACKENDS[backend]} cannot split {expert_width}-wide FP8-block experts {width} ways: "
            f"its expert-parallel layout, moe_tp 1, moe_ep {width}")
    return layout.remapped(note, moe_tp=1, moe_ep=width)
