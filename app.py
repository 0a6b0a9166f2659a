"""The evaluator's web app: ``streamlit run app.py`` (or ``make run``), then open http://localhost:8501.

One module per page in ``webapp/``, each with ``page()``. Pages owned by other parts of the
project (services, batch, decide) appear as soon as their module exists. The app reads the results
store named by ``$PILOT_STORE`` (default ``results``); it never imports plugin code and never runs a
simulation in the script thread (runs go to worker processes, see ``simulation.jobs.runs``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import streamlit as st

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


def _lazy(name: str) -> Callable[[], None]:
    """The page of ``webapp/<name>.py``, imported when it is first shown: a server's first view then
    loads the modules of one page, not of seven (a page's import error shows on that page)."""

    def page() -> None:
        try:
            fn = importlib.import_module(f"webapp.{name}").page
        except Exception as exc:
            st.error(f"The page module webapp/{name}.py cannot be loaded: {type(exc).__name__}: {exc}")
            return
        fn()

    page.__name__ = name  # Streamlit names a page's URL and its widgets' scope after its function
    return page


def _pages() -> list[st.Page]:
    return [
        st.Page(_lazy(name), title=title, url_path=url, default=i == 0)
        for i, (name, title, url) in enumerate(PAGES)
        if importlib.util.find_spec(f"webapp.{name}") is not None  # a page not written yet is left out
    ]


def main() -> None:
    """Build the navigation and run the chosen page."""
    from webapp.common import job_sidebar

    st.set_page_config(page_title="Pilot District Sandbox", layout="wide")
    nav = st.navigation(_pages())
    job_sidebar()
    nav.run()


main()
