"""The evaluator's web app: one module per page, each with a ``page()`` function (see ``app.py``).

``python -m webapp`` (what ``make run`` starts) serves it and loads the pages' modules while the
server starts, so the first evaluator does not wait for the imports.
"""

#: (module under webapp/, title, url path), in menu order. No page icons: Streamlit fetches the favicon
#: of a ":material/...:" icon from fonts.gstatic.com (the app makes no outside request), and emoji
#: need an emoji font that minimal systems lack.
PAGES = [
    ("district", "District", "district"),
    ("run", "Run", "run"),
    ("compare", "Compare", "compare"),
    ("services", "Services", "services"),
    ("batch", "Batch", "batch"),
    ("decide", "Decide", "decide"),
    ("programme", "Programme", "programme"),
]
