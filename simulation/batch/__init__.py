"""Batches of runs: study files, designs (factorial, LHS, Sobol, Morris), executors (local, Dask),
streamed and resumable output, and the analysis of a finished batch.

    from simulation.batch import make_plan, run_batch, analyze
    plan = make_plan("scenarios/studies/ai_cameras.yaml")
    summary = run_batch(plan, "batch-out/ai_cameras", executor="local", workers=4)
    tables = analyze("batch-out/ai_cameras")
"""

from simulation.batch.analysis import Analysis, analyze
from simulation.batch.plan import Plan, make_plan
from simulation.batch.runner import BatchSummary, run_batch
from simulation.batch.study import BatchError, Study, StudyError, load_study

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
