"""`sloplan prove --verify`: the certificate's claims re-derived by solver/cert_verify_union.py."""
from __future__ import annotations

from sloplan.core.enums import ConstraintGroup

from .context import build_context
from .prove import Certificate, union_instance


def verify(req, cert: Certificate) -> tuple[str, list[str]]:
    """(methods used, disagreements) for `cert` of `req`; the instance is priced again from scratch."""
    from sloplan.solver.cert_verify_union import verify_union

    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    union, _ = union_instance(req, ctx)
    conflicts = {frozenset(ConstraintGroup(g) for g in c) for c in cert.conflicts}
    bounds = {ConstraintGroup(b.group): b.planned for b in cert.bounds}
    return verify_union(union, cert.feasible, conflicts, bounds, backend=req.solver)
