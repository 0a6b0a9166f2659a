"""``python -m webapp [streamlit options]``: ``streamlit run app.py``, with the pages loaded as it starts.

Streamlit runs ``app.py`` in the server's own process when a browser first connects, and a page's
modules (pandas, pydeck, the results layer …) are imported then: about 1.5 s the first evaluator
would wait for. Here a background thread imports them while the server starts; a browser that
connects before it is done simply waits for the module it needs (Python's import lock).
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

from webapp import PAGES


def _preload() -> None:
    for name, _, _ in PAGES:
        try:
            importlib.import_module(f"webapp.{name}")
        except Exception:
            continue


def main() -> None:
    """Start the preload, then hand over to Streamlit's own command line."""
    from streamlit.web import cli

    threading.Thread(target=_preload, name="preload-pages", daemon=True).start()
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent.parent / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
