"""Problems: each builds a solver-independent `Formulation` from an option table and inverts a
backend's solution into a `Deployment`. Drivers (best.py, pareto.py) talk to problems and to the
`SolverBackend` interface only.

* `replica`        — integer replica counts per option (the best-plan problem, with SLO groups).
* `class_knapsack` — the ε-step knapsack over GPU-size classes (each step of the Pareto tracer).
"""
from .class_knapsack import ClassKnapsack, class_rankings, class_winners
from .replica import VAR, ReplicaProblem, build_replica_problem

__all__ = ["VAR", "ClassKnapsack", "ReplicaProblem", "build_replica_problem", "class_rankings", "class_winners"]
