"""solver: exact replica planning over an OptionTable.

Public entry points::

    from sloplan.solver import Slo, Deployment, best_deployment, pareto_front

Layout: `problems/` build solver-independent formulations (`formulation.py`, groups in `groups.py`)
and invert solutions into Deployments; `backends/` solve them behind one interface (HiGHS first);
`best.py` and `pareto.py` are drivers over both. highspy is imported only when a model is solved,
so importing this package stays cheap.
"""
from .backends import SolverError
from .best import best_deployment
from .deployment import Deployment
from .infeasibility import infeasibility_reason
from .pareto import pareto_front
from .slo import Slo

__all__ = ["Deployment", "Slo", "SolverError", "best_deployment", "infeasibility_reason", "pareto_front"]
