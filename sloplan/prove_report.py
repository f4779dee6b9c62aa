"""The certificate as text (rich), for `sloplan prove` and for `sloplan solve` on an infeasible request."""
from __future__ import annotations

from rich.table import Table

from .prove import LABEL, Certificate, OptionView, RelaxationView
from .report import console
from .result import PlanPoint

_NAME = {g.value: text for g, text in LABEL.items()}


_POOL_ROLES = ("prefill", "decode")
_SLO_FIELDS = {"slo_ttft": "ttft_ms", "slo_tpot": "tpot_ms", "slo_request_latency": "request_latency_ms"}


def _bound(request: dict, group: str, value: float, option: str) -> str:
    """"lowest TPOT within 8 GPUs with TTFT ≤ 500 ms: 6.300 ms (asked 5 ms), at …": the others held."""
    others = [f"{_NAME[g]} ≤ {request[k]:g} ms" for g, k in _SLO_FIELDS.items() if g != group and request.get(k)]
    held = f" with {', '.join(others)}" if others else ""
    if group == "gpu_budget":
        return f"fewest GPUs{held}: {value:g} (budget {request['total_gpus']}), at {option}"
    return (f"lowest {_NAME[group]} within {request['total_gpus']} GPUs{held}: {value:.3f} ms "
            f"(asked {request[_SLO_FIELDS[group]]:g} ms), at {option}")


def _relaxation(r: RelaxationView) -> str:
    """The change, and where its plan was solved when that is not the change itself (RelaxationView)."""
    if r.plan_change is None:
        return r.change
    return (f"{r.change} (tight; reached by a disaggregated pair only at zero load) — plan at {r.plan_change} "
            "(+ half its prefill batch latency: prefill up to 50 % busy)")


def _option(o: OptionView) -> str:
    return f"{o.engine} {o.mode}, concurrency {o.concurrency}, {o.gpus} GPU{'s' if o.gpus != 1 else ''}"


def _plan(p: PlanPoint) -> str:
    reps = " + ".join(f"{g.count}× {g.engine} ({g.mode}{' ' + g.role if g.role in _POOL_ROLES else ''}, "
                      f"{g.concurrency} {'per batch' if g.role == 'prefill' else 'in flight'})" for g in p.replicas)
    return (f"{reps} · {p.tokens_per_s_per_gpu:.1f} tok/s/gpu on {p.gpus_used}/{p.total_gpus} GPUs · "
            f"TTFT {p.ttft_ms:.0f} ms · TPOT {p.tpot_ms:.2f} ms")


def print_certificate(c: Certificate, request: dict) -> None:
    """Conflicts, bounds, relaxations and evidence; a feasible request shows its witnessing plan.
    `request` is the request as JSON (the limits each bound holds the others at)."""
    if c.feasible:
        console.print(f"[bold green]Feasible:[/] {_plan(c.plan)}" if c.plan else "[bold green]Feasible[/]")
    else:
        console.print("Conflicting constraint groups (each set is minimal: drop any one of its groups and the "
                      "rest is feasible):")
        for conflict in c.conflicts:
            console.print("  {" + ", ".join(_NAME[g] for g in conflict) + "}")
    if c.bounds:
        console.print("Best achievable while every other group holds (over the requested modes, planned formats, "
                      "engines that fit):")
        for b in c.bounds:
            console.print(f"  {_bound(request, b.group, b.value, _option(b.option))}")
    if c.relaxations:
        console.print("Smallest single relaxations, each with the best plan it unlocks:")
        for r in c.relaxations:
            console.print(f"  {_relaxation(r)}: {_plan(r.plan)}")
    elif not c.feasible:
        console.print("No single relaxation (SLO, GPUs, per-pool limit, quantization, mode) makes it feasible.")
    if c.closest:
        console.print(_closest(c.closest))
    if c.unservable:
        console.print("Formats no relaxation can add: " + "; ".join(c.unservable))
    s = c.solver
    checks = "; ".join(f"{family}: {o['oracle']}, {o['status']} by {o['confirmed_by']}"
                       for family, o in s.get("oracles", {}).items())
    console.print(f"Checked over {', '.join(_NAME[g] for g in s['groups']) or 'no groups'} "
                  f"({c.options} options priced): {checks or 'nothing to check'}")


def _closest(options: tuple[OptionView, ...]) -> Table:
    t = Table(title="Closest options (within the budget, planned formats and modes; disagg pairs unloaded)",
              title_justify="left")
    for col in ("engine", "mode", "conc", "GPUs", "TTFT ms", "TPOT ms", "latency ms", "tok/s/gpu", "breaks"):
        t.add_column(col, justify="left" if col in ("engine", "mode", "breaks") else "right")
    for o in options:
        t.add_row(o.engine, o.mode, str(o.concurrency), str(o.gpus), f"{o.ttft_ms:.1f}", f"{o.tpot_ms:.2f}",
                  f"{o.request_latency_ms:.0f}", f"{o.tokens_per_s_per_gpu:.1f}",
                  ", ".join(_NAME[g] for g in o.excluded_by))
    return t
