"""What a run produces and what is done with it: KPI catalogue, running a scenario, the store, compare, report, export."""
