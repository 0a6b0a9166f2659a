"""Background work the app starts (scenario runs, conformance checks), with progress and cancel."""
