"""The evaluator's web app: ``make run`` (``python -m webapp``, i.e. ``streamlit run app.py`` with the pages
loaded as the server starts), then open http://localhost:8501.

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

from webapp import PAGES


def _lazy(name: str) -> Callable[[], None]:
    """The page of ``webapp/<name>.py``, imported when it is first shown (``python -m webapp`` has
    usually loaded it already; under a bare ``streamlit run app.py`` a first view loads one page's
    modules, not seven's). A page's import error shows on that page."""

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
