"""Which development-split disaggregated rows ran MTP: the derivation behind speculation.yaml's disaggregated rules.

Needs a local git checkout of SemiAnalysisAI/InferenceX (`--inferencex PATH`, a bare repository works).
For every dev disaggregated row whose silicon_data_source names a benchmark-database config_id, it
reads .github/configs/nvidia-master.yaml as of the row's measured day (the last commit touching it
before that day ends, UTC) and lists the multinode search-space entries that could have produced the
row: same container image, framework (dynamo-trt / dynamo-sglang / dynamo-vllm), precision, isl/osl,
prefill and decode worker counts, GPUs per worker and dp-attn, and the row's silicon_concurrency in
the entry's conc-list (or, where no entry lists it, in conc-list x decode workers: PR 698's H200
c4_..._gen9 recipes are recorded so). InferenceX's database keys a configuration by its speculative
method among other fields (docs/results-and-ingestion.md, "Normalized config"), so all rows of one
config_id ran one method: the methods are intersected over a config_id's rows. It prints each
config_id's verdict (mtp with its depth, none, or both: undetermined) and never reads a measured
latency or an error.

    .venv/bin/python bench/disagg_mtp_probe.py --inferencex /path/to/InferenceX
"""
from __future__ import annotations

import argparse
import re
import subprocess
from collections import defaultdict
from functools import cache
from pathlib import Path

import yaml

from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg

FRAMEWORK = {"trtllm": "dynamo-trt", "sglang": "dynamo-sglang", "vllm": "dynamo-vllm"}
RUNNER = {"b200_sxm": "b200", "h200_sxm": "h200", "h100_sxm": "h100", "gb200": "gb200", "gb300": "gb300"}
MASTER = ".github/configs/nvidia-master.yaml"


def _field(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1) if m else None


@cache
def master_at(repo: str, day: str) -> tuple[str, dict]:
    """(commit, parsed nvidia-master.yaml) as of the end of `day` (UTC)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True, check=True).stdout
    commit = git("log", "-1", f"--before={day}T23:59:59Z", "--format=%h", "HEAD", "--", MASTER).strip()
    return commit, yaml.safe_load(git("show", f"{commit}:{MASTER}"))


def _role_matches(entry: dict, row: dict, role: str) -> bool:
    tp, dp, workers = (int(row[f"{role}_{c}"] or 0) for c in ("tp_size", "attention_dp_size", "num_workers"))
    same_gpus = int(entry["tp"]) == tp * dp and bool(entry.get("dp-attn")) == (dp > 1)
    return int(entry["num-worker"]) == workers and same_gpus


def depth(entry: dict) -> int | None:
    """The MTP depth an entry names: DECODE_MTP_SIZE=N, or a recipe file ending _mtpN.yaml."""
    settings = [entry.get(role, {}).get("additional-settings") or [] for role in ("prefill", "decode")]
    text = " ".join(str(x) for lines in settings for x in lines)
    found = _field(r"DECODE_MTP_SIZE=(\d+)", text) or _field(r"mtp(\d+)\.yaml", text)
    return int(found) if found else None


def _configs(master: dict, row: dict):
    """The disaggregated config keys of `master` that ran the row's image, framework, system and precision."""
    image = row["silicon_data_source"].rsplit(";", 1)[-1].strip().replace("#", "/")
    precision = "fp4" if row["gemm_quant_mode"] == "nvfp4" else "fp8"
    kimi = "kimi" in row["model_path"].lower()
    for key, cfg in master.items():
        if not isinstance(cfg, dict) or not cfg.get("disagg") or (cfg.get("image") or "").replace("#", "/") != image:
            continue
        if cfg.get("framework") != FRAMEWORK[row["backend"]] or cfg.get("precision") != precision:
            continue
        same_model = kimi == ("kimi" in str(cfg.get("model-prefix")))
        if str(cfg.get("runner", "")).startswith(RUNNER[row["system"]]) and same_model:
            yield key, cfg


def matched_entries(master: dict, row: dict, clients: int) -> tuple[bool, list[tuple[str, dict]]]:
    """(whether the entries' conc-list counts clients per decode worker, the (config key, entry) pairs of
    every search-space entry that could have produced the row): entries listing the row's client count
    first, else those listing it per decode worker (PR 698's H200 recipes)."""
    for per_worker in (False, True):
        hits = []
        for key, cfg in _configs(master, row):
            for seq in cfg["seq-len-configs"]:
                if (int(seq["isl"]), int(seq["osl"])) != (int(row["isl"]), int(row["osl"])):
                    continue
                for entry in seq["search-space"]:
                    factor = int(entry["decode"]["num-worker"]) if per_worker else 1
                    if clients in [c * factor for c in entry["conc-list"]] and all(
                            _role_matches(entry[r], row, r) for r in ("prefill", "decode")):
                        hits.append((key, entry))
        if hits:
            return per_worker, hits
    return False, []


def entries_for(master: dict, row: dict, clients: int) -> list[tuple[str, str, int | None]]:
    """(config key, spec-decoding, depth) of every search-space entry that could have produced the row."""
    return [(key, entry.get("spec-decoding", "none"), depth(entry))
            for key, entry in matched_entries(master, row, clients)[1]]


def verdicts(repo: str, rows: list[dict]) -> dict[str, tuple[set[str], set, int]]:
    """config_id -> (methods every row of it admits, their depths, rows)."""
    admitted: dict[str, list[tuple[set[str], list]]] = defaultdict(list)
    for row in rows:
        note = row["silicon_data_source"]
        cid, day = _field(r"config_id=(\d+)", note), _field(r"measured=([\d-]+)", note)
        if not cid or not day:
            continue
        hits = entries_for(master_at(repo, day)[1], row, int(_field(r"silicon_concurrency=(\d+)", note) or 0))
        if hits:
            admitted[cid].append(({h[1] for h in hits}, hits))
    out = {}
    for cid, seen in admitted.items():
        methods = set.intersection(*(m for m, _ in seen))
        out[cid] = (methods, {h[2] for _, hits in seen for h in hits if h[1] in methods}, len(seen))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inferencex", required=True, help="a git checkout of SemiAnalysisAI/InferenceX")
    ap.add_argument("--silicon", type=Path, default=None, help="silicon_sample.csv [default: the wheel's]")
    a = ap.parse_args()
    rows = load_dev_disagg(a.silicon or silicon_csv_path())
    for cid, (methods, depths, n) in sorted(verdicts(a.inferencex, rows).items(), key=lambda kv: int(kv[0])):
        verdict = "undetermined" if len(methods) > 1 else (next(iter(methods)) if methods else "no entry")
        print(f"config_id {cid:>4}: {verdict:<12} depths {sorted(d for d in depths if d is not None)} ({n} dev rows)")


if __name__ == "__main__":
    main()
