"""The programme: pilot districts by year against the plan's indicators and budget (runner and report)."""
