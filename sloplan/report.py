"""Human-readable output (rich tables). Only the CLI imports this."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sloplan.core.enums import BACKEND_NAMES

from .result import Estimate, PlanPoint, SolveResult

# emoji=False: what is printed is data (model ids, engine labels, launch commands full of `host:port`), never
# emoji codes; with rich's default every string is scanned for `:name:` codes, any match among ~3,600 names
# replaced, and that table imported (~3 ms of a quick-start solve, none of it changing these outputs).
console = Console(highlight=False, emoji=False, width=None if Console().is_terminal else 132)
MAX_ROWS = 16


def _key(p: PlanPoint) -> tuple[float, float]:
    return p.tokens_per_s_per_user, p.tokens_per_s_per_gpu


def _shown(front: tuple[PlanPoint, ...], best: PlanPoint | None) -> list[PlanPoint]:
    """At most MAX_ROWS points evenly spread along the front (both ends), plus the best plan's point."""
    if len(front) <= MAX_ROWS:
        return list(front)
    idx = {round(i * (len(front) - 1) / (MAX_ROWS - 1)) for i in range(MAX_ROWS)}
    idx |= {i for i, p in enumerate(front) if best and _key(p) == _key(best)}
    return [front[i] for i in sorted(idx)]


def _front_table(front: tuple[PlanPoint, ...], best: PlanPoint | None, complete: bool = True) -> Table:
    shown = _shown(front, best)
    note = "" if len(shown) == len(front) else f", {len(shown)} of {len(front)} points shown (--json for all)"
    what = f"exact over {len(front)} points" if complete else f"{len(front)} points traced before the time limit"
    t = Table(title=f"Pareto front, {what}{note}", title_justify="left")
    for col in ("tok/s/user", "tok/s/gpu", "TTFT ms", "TPOT ms", "slack", "mode", "replicas", "conc/replica",
                "tier"):
        t.add_column(col, justify="right" if col not in ("mode", "replicas") else "left")
    for p in shown:
        mark = " *" if best and _key(p) == _key(best) else ""
        reps = p.engine if p.ttft_breakdown_ms else " + ".join(f"{g.count}×{g.engine}" for g in p.replicas)
        t.add_row(f"{p.tokens_per_s_per_user:.1f}{mark}", f"{p.tokens_per_s_per_gpu:.1f}", f"{p.ttft_ms:.0f}",
                  f"{p.tpot_ms:.2f}", slack_text(p.slack), p.mode, reps, str(p.concurrency), p.tier)
    return t


def print_solve(r: SolveResult) -> None:
    req = r.request
    slo = ", ".join(f"{k} ≤ {req[k]:g}" for k in ("ttft_ms", "tpot_ms", "request_latency_ms") if req.get(k))
    margins = "".join(f" · {k.replace('_', ' ')} {req[k]:.0%}" for k in ("headroom", "min_slack") if req.get(k))
    pools = ", ".join(f"{role} on {req[f'{role}_system']}" for role in ("prefill", "decode")
                      if req.get(f"{role}_system") not in (None, req["system"]))
    console.print(f"[bold]{req['model']}[/] on {req['total_gpus']}× {req['system']}"
                  + (f" (disagg: {pools})" if pools else "") + f" · {r.data_version} · "
                  f"isl {req['isl']} osl {req['osl']} prefix {req['prefix']} · SLO: {slo or 'none'}{margins}")
    milp = r.solver.get("disagg", "").startswith("MILP")  # only when a solver or limit was named
    console.print(f"{r.engines} engines, {r.options} options · estimate {r.timings_s['estimate']:.2f} s, "
                  f"optimize {r.timings_s['optimize']:.2f} s" + (f" (disagg: {r.solver['disagg']})" if milp else ""))
    _limit_note(r)
    if r.front:
        console.print(_front_table(r.front, r.best, r.solver.get("front", {}).get("status", "optimal") == "optimal"))
    b = r.best
    if b is None and not r.proved:
        console.print(f"[red]No plan found before the time limit[/] ({r.solver['time_limit_s']:g} s); "
                      "not proved infeasible")
        return
    if b is None:
        console.print(f"[red]No deployment meets the SLOs:[/] {r.infeasible_reason}")
        if r.certificate is not None:
            from .prove_report import print_certificate

            print_certificate(r.certificate, r.request)
        return
    console.print(f"[bold green]Best:[/] {_groups(b)} · slack {slack_text(b.slack)}")
    console.print(f"  {b.tokens_per_s_per_gpu:.1f} tok/s/gpu · {b.tokens_per_s_per_user:.1f} tok/s/user · "
                  f"{b.tokens_per_s:.0f} tok/s total on {b.gpus_used}/{b.total_gpus} GPUs · "
                  f"TTFT {b.ttft_ms:.0f} ms · TPOT {b.tpot_ms:.2f} ms · tier {b.tier}"
                  + (f" ({b.tier_source})" if b.tier_source else ""))
    if b.check:
        c = b.check
        console.print(f"  re-checked by the full estimator: TTFT {c.ttft_ms:.0f} ms, TPOT {c.tpot_ms:.2f} ms,"
                      f" {c.tokens_per_s_per_gpu:.1f} tok/s/gpu (surrogate error {c.surrogate_error_pct:.2f}%)")
    _frontend_note(b.frontend_load, indent="  ")
    if b.ttft_breakdown_ms:
        t = b.ttft_breakdown_ms
        console.print("  TTFT in parts: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f} ms ({v / b.ttft_ms:.0%})"
                                                       for k, v in t.items()))
    if b.memory_gib:
        console.print("  memory per GPU (GiB): " + ", ".join(f"{k} {v}" for k, v in b.memory_gib.items()))
    launches = [g for g in b.replicas if g.launch]
    if b.ttft_breakdown_ms and b.launch:
        console.print("[bold]Launch (prefill workers, decode workers, router):[/]")
        console.print(b.launch, soft_wrap=True)
    elif len(launches) > 1:  # a mixed plan: each group starts its own engine
        for g in launches:
            console.print(f"[bold]Launch (one replica of {g.count}× {g.engine}, {g.mode}):[/]")
            console.print(g.launch, soft_wrap=True)
    elif b.launch:
        console.print("[bold]Launch (one replica):[/]")
        console.print(b.launch, soft_wrap=True)


def _limit_note(r: SolveResult) -> None:
    """Say what a time limit left unproved (nothing when the solve is proved, the default)."""
    for part in ("best", "front"):
        o = r.solver.get(part, {})
        if o.get("status", "optimal") in ("optimal", "infeasible"):
            continue
        gap = f", gap {o['gap'] * 100:.2f}%" if o.get("gap") is not None else ""
        console.print(f"[bold yellow]{'Best plan' if part == 'best' else 'Front'} NOT proved optimal:[/] "
                      f"{o['status']} after {r.solver['time_limit_s']:g} s on {r.solver['name']}{gap} "
                      f"({o['detail']})")


def slack_text(slack: float | None) -> str:
    """A plan's slack as a percentage (one decimal below 10%), '∞' when it has no SLO to break."""
    if slack is None:
        return "∞"
    slack = max(slack, 0.0)  # a plan on its limit (met within float rounding) has no slack, not "-0.0%"
    return f"{slack:.1%}" if slack < 0.1 else f"{slack:.0%}"


def _groups(b: PlanPoint) -> str:
    """The best plan's groups: replicas with their mode, or a disaggregated plan's workers with their role."""
    if b.ttft_breakdown_ms:
        return " + ".join(f"{g.count}× {g.engine} ({g.role}" + (f" on {g.system}, " if g.system != b.replicas[0].system
                                                                 or g.system != b.replicas[-1].system else ", ")
                          + (f"batch {g.concurrency})" if g.role == "prefill" else f"{g.concurrency} in flight each)")
                          for g in b.replicas)
    return " + ".join(f"{g.count}× {g.engine} ({g.mode}, {g.concurrency} in flight each)" for g in b.replicas)


def _frontend_note(load: float, indent: str = "") -> None:
    """Say when a server's frontend, not its GPUs, bounds throughput (model/calibration.py)."""
    if load >= 0.5:
        console.print(f"{indent}frontend-bound: a server streams at {load:.0%} of its fitted frontend limit, where"
                      " clients start to wait for their first token")


def print_estimate(e: Estimate) -> None:
    t = Table(title=f"{e.model} · {e.engine} · {e.mode} · concurrency {e.concurrency} · {e.system} {e.backend} "
                    f"{e.data_version}", title_justify="left")
    for col in ("TTFT ms", "TPOT ms", "latency ms", "tok/s/user", "tok/s/gpu", "running", "tier"):
        t.add_column(col, justify="right")
    t.add_row(f"{e.ttft_ms:.1f}", f"{e.tpot_ms:.2f}", f"{e.request_latency_ms:.0f}", f"{e.tokens_per_s_per_user:.1f}",
              f"{e.tokens_per_s_per_gpu:.1f}", str(e.running), e.tier)
    console.print(t)
    if e.tier_source:
        console.print(f"tier {e.tier}: set by the {e.tier_source} lookup")
    _frontend_note(e.frontend_load)
    for note in e.notes:
        console.print(f"note: {note}")
    console.print("memory per GPU (GiB): " + ", ".join(f"{k} {v}" for k, v in e.memory_gib.items()))


def print_systems() -> None:
    """Every catalog system with the data tier each framework gets there: measured tables (their
    versions, shipped or from --perfdb) or the roofline scaled by a donor's measured efficiencies."""
    from sloplan.perfdb import list_systems, load_system

    t = Table(title="Systems · measured V: silicon tables for framework version V · roofline ← X: speed of light "
                    "× efficiencies measured on X · n/a: framework does not run there", title_justify="left")
    for col in ("system", "GPU", "HBM GiB", "TB/s", "GPUs/node", *BACKEND_NAMES):
        t.add_column(col, no_wrap=col != "GPU")
    for name in list_systems():
        s = load_system(name)
        tiers = [_data_tier(name, s, b) for b in BACKEND_NAMES]
        t.add_row(name, s.gpu_name, f"{s.mem_capacity_bytes / 2**30:.0f}", f"{s.mem_bw_bytes_per_s / 1e12:.2f}",
                  str(s.gpus_per_node), *tiers)
    console.print(t)


def _data_tier(name: str, spec, backend: str) -> str:
    from sloplan.perfdb import data_versions

    if backend not in spec.frameworks:
        return "n/a"
    versions = data_versions(name, backend)
    if versions:
        return "measured " + ", ".join(versions)
    donor = spec.efficiency_donor
    return f"roofline ← {donor}" if donor else "roofline only"


SPELLING_EXAMPLES = ("qwen3-32b", "meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-70B-Instruct", "Meta-Llama-3.1-8B")


def print_models() -> None:
    """The catalog, and how other spellings resolve (shown by resolving examples, so it cannot drift)."""
    from sloplan.model.catalog import catalog_entry, list_models, resolve_model

    for line in ("Models sloplan plans (dense GQA), by catalog name; a local folder with a config.json works too.",
                 "Names match spelling-insensitively: case, the org, '_' for '-', a 'Meta-' prefix and the suffixes",
                 "-Instruct/-Chat/-Base/-it/-hf do not change the architecture "
                 "(-FP8/-NVFP4 do: another weight format).",
                 "Launch commands serve the checkpoint a spelling names, for example:"):
        console.print(line)
    width = max(map(len, SPELLING_EXAMPLES))
    for typed in SPELLING_EXAMPLES:
        ckpt, entry = resolve_model(typed).checkpoint, catalog_entry(typed)
        shape = "" if entry == ckpt else f"  (architecture of {entry})"
        console.print(f"  {typed:<{width}}  → {ckpt}{shape}")
    console.print()
    for name in list_models():
        console.print(name)
    console.print()
    console.print("MoE, MLA and hybrid-attention models (estimated; less accurate than the dense ones so far):")
    for name in list_models(designs="other"):
        console.print(name)
