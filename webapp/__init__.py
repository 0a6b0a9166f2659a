"""The evaluator's web app: one module per page, each with a ``page()`` function (see ``app.py``)."""
