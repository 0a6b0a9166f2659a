"""What a run produces and what is done with it.

The KPI catalogue, running a scenario, the store, compare, report, export.
"""
