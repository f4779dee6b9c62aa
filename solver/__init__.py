"""solver: exact replica planning over an OptionTable.

Public entry points::

    from sloplan.solver import Slo, Deployment, best_deployment, pareto_front
    from sloplan.solver import Plan, best_plan, pareto_plans   # the same answers as typed Plans

Layout: `problems/` build solver-independent formulations (`formulation.py`, groups in `groups.py`)
and invert solutions into Deployments and those into typed Plans (`plan.py`); `backends/` solve them
behind one interface (HiGHS by default; Pyomo and OR-Tools when chosen and installed); `best.py` and
`pareto.py` are drivers over both. highspy is imported only when a model is solved, so importing
this package stays cheap.
"""
from .backends import SolverError
from .best import best_deployment, best_plan
from .deployment import Deployment
from .infeasibility import infeasibility_reason
from .pareto import pareto_front, pareto_plans
from .plan import Plan, PlanGroup, PlanMetrics
from .slo import Slo

__all__ = ["Deployment", "Plan", "PlanGroup", "PlanMetrics", "Slo", "SolverError", "best_deployment", "best_plan",
           "infeasibility_reason", "pareto_front", "pareto_plans"]
