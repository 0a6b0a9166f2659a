"""From a comparison to a recorded decision: economics, evaluation, evidence and records."""
