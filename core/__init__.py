"""sloplan's bottom layer: the closed sets every other layer speaks in (core/enums.py).

It imports nothing of sloplan's, so perfdb, model, solver, generators and the facade can all depend on it
without a cycle; strings from files, users and tables become these members at the edges.
"""
