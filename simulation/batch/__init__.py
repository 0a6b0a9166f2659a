"""Batches of runs: study files, designs (factorial, LHS, Sobol, Morris), executors (local, Dask),
streamed and resumable output, and the analysis of a finished batch.

    from simulation.batch import make_plan, run_batch, analyze
    plan = make_plan("scenarios/studies/ai_cameras.yaml")
    summary = run_batch(plan, "batch-out/ai_cameras", executor="local", workers=4)
    tables = analyze("batch-out/ai_cameras")
"""

from .analysis import Analysis, analyze
from .plan import Plan, make_plan
from .runner import BatchSummary, run_batch
from .study import BatchError, Study, StudyError, load_study

__all__ = [
    "Analysis",
    "BatchError",
    "BatchSummary",
    "Plan",
    "Study",
    "StudyError",
    "analyze",
    "load_study",
    "make_plan",
    "run_batch",
]
