"""solver: exact replica planning over an OptionTable.

Public entry points::

    from sloplan.solver import Slo, Deployment, best_deployment, pareto_front

highspy is imported only when a model is solved, so importing this package stays cheap.
"""
from .best import best_deployment
from .deployment import Deployment
from .pareto import pareto_front
from .replica_model import SolverError
from .slo import Slo

__all__ = ["Deployment", "Slo", "SolverError", "best_deployment", "pareto_front"]
