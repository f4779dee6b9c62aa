"""The decode workers' request caps the benchmark's launch recipes set: the derivation behind
model/catalog/decode_caps.yaml (read by sloplan/csv_decode_caps.py for `estimate --from-csv`).

    .venv/bin/python bench/disagg_recipe_caps.py --inferencex PATH --srt-slurm PATH [PATH ...] [--write]

For every development-split disaggregated row naming a benchmark-database config_id, it finds the
multinode search-space entries of .github/configs/nvidia-master.yaml (as of the row's measured day) that
could have produced it, as bench/disagg_mtp_probe.py does, kept to the config's speculative method where
the probe decides one. A config_id's facts hold for all its rows, whichever split, so it then lists every
entry of the matched config key at that commit with the same topology and method (each isl/osl, its
conc-list: the client counts a row of that config may record) and reads each entry's decode cap:

* `CONFIG_FILE=recipes/...` (an srt-slurm recipe; the launchers clone srt-slurm, runners/launch_*.sh):
  the file's last version committed on or before the measured day in the given srt-slurm clones (any ref:
  the launchers' branches sa-submission-q1/q2-2026 are cut from NVIDIA/srt-slurm, and the q1 branch is not
  in the clones), else its earliest version there, its date said in the source (the master config named it
  that day, so the launcher's branch had it); its prefill and decode worker counts must be the entry's.
  TensorRT-LLM: `backend.trtllm_config.decode.max_batch_size`, the requests one attention-DP rank
  schedules (its PyExecutor's capacity), times the ranks when `enable_attention_dp`;
  SGLang: `backend.sglang_config.decode.max-running-requests`, the engine's, split over its DP ranks
  (max_running_requests // dp_size per rank), so (mrr // dp) x dp for the worker.
* `DECODE_MAX_BATCH_SIZE=N` (the entry's own settings; benchmarks/dsr1_fp4_gb200_dynamo-trt_slurm.sh
  passes it as the generation servers' max_batch_size): N per rank, times the ranks with dp-attn.

Beside the cap it records the prefill worker's limits the same sources set (recipe_prefill; the
entry's PREFILL_MAX_BATCH_SIZE / PREFILL_MAX_NUM_TOKENS), for reading only: `estimate --from-csv`
takes a row's prefill batch from its prefill_batch_size column. And each role's layout a recipe launches
(recipe_layout), which `estimate --from-csv` prices where the row records another split of the same GPUs,
and each TensorRT-LLM role's MoE backend (recipe_moe_backend, `moe_config.backend`), which no column records.

An entry whose recipe cannot be found or read, or a client count two entries with different caps list,
gets no cap (the row keeps today's behaviour). It never reads a measured latency or an error.
"""
from __future__ import annotations

import argparse
import subprocess
from datetime import datetime, UTC
from collections import defaultdict
from pathlib import Path

import yaml
from _common import REPO_ROOT
from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg
from disagg_mtp_probe import _field, _role_matches, master_at, matched_entries, verdicts

OUT = REPO_ROOT / "model" / "catalog" / "decode_caps.yaml"


def _git(repo: str, *a: str) -> str:
    """git's output in `repo` (a checkout or a bare repository); empty where it fails (a path not there)."""
    return subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True).stdout


def _versions(repo: str, path: str) -> list[tuple[int, str]]:
    """(commit time, commit) of every commit on any ref of `repo` that touches `path`, newest first."""
    lines = _git(repo, "log", "--all", "--format=%ct %H", "--", path).split("\n")
    return [(int(t), c) for t, c in (line.split() for line in lines if line.strip())]


def recipe_at(clones: list[str], path: str, day: str) -> tuple[str, dict] | None:
    """(`owner/name:path@commit`, parsed recipe): the last version of `path` committed on or before `day`
    (UTC) in any clone; where none is that old (the launcher's branch is not in the clones, its recipes
    reached them later), the earliest one, said in the source."""
    end = int(datetime.fromisoformat(f"{day}T23:59:59+00:00").timestamp())
    found = [(t, -i, c, repo) for i, repo in enumerate(clones) for t, c in _versions(repo, path)]
    before = [v for v in found if v[0] <= end]  # ties: the clone named first
    for when, _, commit, repo in sorted(before, reverse=True)[:1] or sorted(found, key=lambda v: (v[0], -v[1]))[:1]:
        text = _git(repo, "show", f"{commit}:{path}")
        if not text:
            return None  # deleted there
        name = Path(repo).parent.name.replace("+", "/") if Path(repo).name == "repo" else Path(repo).name  # a mirror
        late = "" if when <= end else f" (first in the clones {datetime.fromtimestamp(when, UTC):%Y-%m-%d})"
        return f"{name}:{path}@{commit[:10]}{late}", yaml.safe_load(text)
    return None


def _role(recipe: dict, framework: str, role: str) -> dict:
    """One role's engine settings in a recipe (`trtllm_config` / `sglang_config`), empty where absent."""
    return ((recipe.get("backend") or {}).get(f"{framework}_config") or {}).get(role) or {}


def _trt_ranks(trt: dict) -> int:
    """A TensorRT-LLM worker's attention-DP ranks: its world size under enable_attention_dp, else 1."""
    return int(trt.get("tensor_parallel_size") or 1) if trt.get("enable_attention_dp") else 1


def _sgl_ranks(sgl: dict) -> int:
    """An SGLang worker's attention-DP ranks: its dp size under enable-dp-attention, else 1."""
    return int(sgl.get("data-parallel-size") or sgl.get("dp-size") or 1) if sgl.get("enable-dp-attention") else 1


def recipe_cap(recipe: dict) -> int | None:
    """Requests one decode worker may run by its recipe (module docstring), or None where it sets none."""
    trt, sgl = _role(recipe, "trtllm", "decode"), _role(recipe, "sglang", "decode")
    if trt.get("max_batch_size"):
        return int(trt["max_batch_size"]) * _trt_ranks(trt)
    if sgl.get("max-running-requests"):
        dp = _sgl_ranks(sgl)
        return int(sgl["max-running-requests"]) // dp * dp or None
    return None


def recipe_prefill(recipe: dict) -> dict:
    """A prefill worker's limits by its recipe: the prompts one pass may carry (all its ranks: TensorRT-LLM
    `max_batch_size` per attention-DP rank, SGLang `max-running-requests` per engine) and the tokens one
    rank's pass may carry (`max_num_tokens`, SGLang `max-prefill-tokens`); None where it sets none."""
    trt, sgl = _role(recipe, "trtllm", "prefill"), _role(recipe, "sglang", "prefill")
    if trt:
        batch = trt.get("max_batch_size")
        return {"prefill_max_batch": int(batch) * _trt_ranks(trt) if batch else None,
                "prefill_max_tokens": trt.get("max_num_tokens")}
    return {"prefill_max_batch": sgl.get("max-running-requests"), "prefill_max_tokens": sgl.get("max-prefill-tokens")}


def recipe_layout(recipe: dict) -> dict:
    """Each role's parallel layout by its recipe, `{role}_layout: [tp, dp, moe_ep]` (attention TP per DP
    rank, attention-DP ranks, expert-parallel ways): TensorRT-LLM's `tensor_parallel_size` is the worker's
    world size, split into DP ranks of attention TP 1 under `enable_attention_dp`,
    `moe_expert_parallel_size` its EP; SGLang's `tensor-parallel-size` the world size, `data-parallel-size`
    its DP ranks under `enable-dp-attention`, `expert-parallel-size` its EP (1 unset, SGLang's default).
    Absent for a role the recipe does not configure, or a TensorRT-LLM role that leaves its EP unset."""
    out = {}
    for role in ("prefill", "decode"):
        trt, sgl = _role(recipe, "trtllm", role), _role(recipe, "sglang", role)
        if trt.get("moe_expert_parallel_size"):  # unset: the version's default, not read here
            world, dp = int(trt.get("tensor_parallel_size") or 1), _trt_ranks(trt)
            ep = int(trt["moe_expert_parallel_size"])
        elif sgl:
            world, dp = int(sgl.get("tensor-parallel-size") or sgl.get("tp-size") or 1), _sgl_ranks(sgl)
            ep = int(sgl.get("expert-parallel-size") or sgl.get("ep-size") or 1)
        else:
            continue
        out[f"{role}_layout"] = [world // dp, dp, ep]
    return out


def recipe_moe_backend(recipe: dict) -> dict:
    """Each TensorRT-LLM role's MoE backend by its recipe, `{role}_moe_backend` (`moe_config.backend`);
    absent for a role that leaves it unset (the version's default) or an SGLang recipe."""
    out = {}
    for role in ("prefill", "decode"):
        backend = (_role(recipe, "trtllm", role).get("moe_config") or {}).get("backend")
        if backend:
            out[f"{role}_moe_backend"] = str(backend)
    return out


def _inline(entry: dict, role: str, name: str) -> int | None:
    """An entry's own `{ROLE}_MAX_...=N` setting (benchmarks/dsr1_fp4_gb200_dynamo-trt_slurm.sh), per rank."""
    settings = " ".join(str(s) for r in ("prefill", "decode") for s in (entry[r].get("additional-settings") or []))
    found = _field(rf"{role.upper()}_{name}=(\d+)", settings)
    return int(found) if found else None


def entry_cap(entry: dict, clones: list[str], day: str) -> tuple[dict, str]:
    """(the entry's decode cap per worker and its prefill worker's limits, their source); the cap None
    with why not."""
    settings = [str(s) for role in ("prefill", "decode") for s in (entry[role].get("additional-settings") or [])]
    config = next((s.split("=", 1)[1] for s in settings if s.startswith("CONFIG_FILE=")), None)
    none = {"decode_max_running": None}
    if config:
        found = recipe_at(clones, config, day)
        if found is None:
            return none, f"{config}: not in the srt-slurm clones"
        res = found[1].get("resources") or {}
        counts = (res.get("prefill_workers"), res.get("decode_workers"))
        if counts != (entry["prefill"]["num-worker"], entry["decode"]["num-worker"]):
            return none, f"{found[0]}: its workers {counts} are not the entry's"
        cap = recipe_cap(found[1])
        facts = {"decode_max_running": cap, **recipe_prefill(found[1]), **recipe_layout(found[1]),
                 **recipe_moe_backend(found[1])}
        return facts, found[0] + ("" if cap else ": no decode cap")
    decode = _inline(entry, "decode", "MAX_BATCH_SIZE")
    if decode is None:
        return none, "the entry names no recipe and no DECODE_MAX_BATCH_SIZE"
    ranks = {r: int(entry[r]["tp"]) if entry[r].get("dp-attn") else 1 for r in ("prefill", "decode")}
    prefill = _inline(entry, "prefill", "MAX_BATCH_SIZE")
    return {"decode_max_running": decode * ranks["decode"],
            "prefill_max_batch": prefill * ranks["prefill"] if prefill else None,
            "prefill_max_tokens": _inline(entry, "prefill", "MAX_NUM_TOKENS")}, "nvidia-master.yaml's own settings"


def config_entries(repo: str, clones: list[str], row: dict, methods: set[str]) -> list[dict]:
    """Every entry of the row's config key(s) at its day's commit with the row's topology and its config's
    speculative method(s), each with the client counts it runs and its decode cap."""
    note = row["silicon_data_source"]
    day = _field(r"measured=([\d-]+)", note)
    commit, master = master_at(repo, day)
    per_worker, hits = matched_entries(master, row, int(_field(r"silicon_concurrency=(\d+)", note) or 0))
    out = []
    for key in sorted({k for k, _ in hits}):
        for seq in master[key]["seq-len-configs"]:
            for entry in seq["search-space"]:
                if entry.get("spec-decoding", "none") not in methods or not all(
                        _role_matches(entry[r], row, r) for r in ("prefill", "decode")):
                    continue
                factor = int(entry["decode"]["num-worker"]) if per_worker else 1
                facts, source = entry_cap(entry, clones, day)
                out.append({"isl": int(seq["isl"]), "osl": int(seq["osl"]),
                            "concurrencies": sorted(int(c) * factor for c in entry["conc-list"]), **facts,
                            "source": f"{source}; {key} in .github/configs/nvidia-master.yaml@{commit}"})
    return out


def derive(repo: str, clones: list[str], rows: list[dict]) -> dict[int, list[dict]]:
    """config_id -> its entries (config_entries), over the config_ids of `rows` whose method is decided
    (one method; undecided configs take the STP reading, as speculation.yaml keeps them not speculating)."""
    methods = {cid: m for cid, (m, _, _) in verdicts(repo, rows).items()}
    out: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        cid = _field(r"config_id=(\d+)", row["silicon_data_source"])
        if not cid or not methods.get(cid):
            continue
        chosen = methods[cid] if len(methods[cid]) == 1 else {"none"}
        for e in config_entries(repo, clones, row, chosen):
            if e not in out[int(cid)]:
                out[int(cid)].append(e)
    return dict(sorted(out.items()))


HEADER = """\
# Requests one decode worker may run (all its attention-DP ranks together), as the benchmark's launch
# recipes set them, by InferenceX benchmark-database configuration (config_id in a row's
# silicon_data_source) and the isl/osl and client count (silicon_concurrency) of the search-space entry
# that ran it. Read by sloplan/csv_decode_caps.py for `estimate --from-csv` (a `decode_max_running`
# column, where a file has one, says it for its own rows); the closed loop (sloplan/disagg_loop.py) cuts
# the decode workers' slots at it. The sample's decode_batch_size is C / (decode workers x decode
# attention DP) on every row, not the recipe's cap.
#
# Generated by bench/disagg_recipe_caps.py --write (its docstring: how each cap is read); do not edit.
# It covers the config_ids of the development split's disaggregated rows (a configuration's facts hold
# for all its rows, whichever split: every entry of its config key with its topology and speculative
# method is listed). decode_max_running: null where the recipe could not be found or sets no cap.
# prefill_max_batch (prompts one prefill worker's pass may carry, all its ranks) and prefill_max_tokens
# (tokens one rank's pass may carry): the same recipe's prefill limits, recorded for reading only.
# prefill_layout / decode_layout: [tp, dp, moe_ep] of each role as the recipe launches it (attention TP per
# DP rank, attention-DP ranks, expert-parallel ways), which `estimate --from-csv` prices where a row
# records another split of the same GPUs (sloplan/csv_decode_caps.py recipe_layout).
# prefill_moe_backend / decode_moe_backend: a TensorRT-LLM role's moe_config.backend where the recipe sets
# it, which `estimate --from-csv` prices (sloplan/csv_moe_backend.py).
# source: the recipe file (repository:path@commit) or the master config's own setting, and the entry.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inferencex", required=True, help="a git checkout of SemiAnalysisAI/InferenceX")
    ap.add_argument("--srt-slurm", nargs="+", required=True, help="git clones of srt-slurm (NVIDIA's and forks)")
    ap.add_argument("--silicon", type=Path, default=None, help="silicon_sample.csv [default: the wheel's]")
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(REPO_ROOT)}")
    a = ap.parse_args()
    caps = derive(a.inferencex, a.srt_slurm, load_dev_disagg(a.silicon or silicon_csv_path()))
    for cid, entries in caps.items():
        for e in entries:
            print(f"config_id {cid:>4} {e['isl']}/{e['osl']} C {e['concurrencies']}: {e['decode_max_running']}"
                  f"  ({e['source']})")
    if a.write:
        body = {"configs": {str(k): v for k, v in caps.items()}}  # string keys: the parse cache keeps them
        OUT.write_text(HEADER + yaml.safe_dump(body, sort_keys=False, width=200, default_flow_style=None))
        print(f"wrote {OUT.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
