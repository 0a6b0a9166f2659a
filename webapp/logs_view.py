"""Service output and ``Service.log`` entries kept with stored runs: one expander for the Services and Compare pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from simulation.errors import StoreError
from simulation.results.store import Store

from .common import store_root

__all__ = ["plugin_logs_expander", "run_logs_expander", "show_log"]

MAX_RUNS = 50  # stored runs searched for a service's logs, newest first


def show_log(log: dict[str, Any]) -> None:
    """One service's log: the structured entries as a table, then the printed output."""
    entries = log.get("entries") or []
    if entries:
        st.dataframe(pd.DataFrame(entries), hide_index=True, width="stretch")
    text = (log.get("text") or "").strip()
    if text:
        st.code(text[-20_000:], language=None)
    if log.get("truncated"):
        st.warning(f"Output over the cap was dropped ({log.get('dropped_bytes', 0):,} bytes).")
    if not entries and not text:
        st.caption("No output in this run.")


def run_logs_expander(run_ids: Sequence[str], label_of: dict[str, str], key: str) -> None:
    """An expander to pick one of ``run_ids`` and one of its services and read that service's log."""
    with st.expander("Service output and logs (what each service printed and logged with self.log)"):
        if not run_ids:
            st.caption("No runs.")
            return
        run = st.selectbox("Run", list(run_ids), format_func=lambda r: label_of.get(r, r), key=f"{key}_run")
        try:
            logs = Store(store_root()).logs(run)
        except StoreError as exc:
            st.error(str(exc))
            return
        if not logs:
            st.caption("This run was stored before service logs were kept.")
            return
        name = st.selectbox("Service", sorted(logs), key=f"{key}_svc:{run}")
        show_log(logs[name])
        st.caption(f"Also: `python -m simulation logs {run} --service {name}`")


def plugin_logs_expander(service: str) -> None:
    """An expander with ``service``'s log in the stored runs it took part in (newest first)."""
    store = Store(store_root())
    runs = store.runs()
    found: list[str] = []
    labels: dict[str, str] = {}
    if len(runs):
        for r in runs.sort_values("created", ascending=False).head(MAX_RUNS).itertuples(index=False):
            try:
                logs = store.logs(str(r.run_id))
            except StoreError:
                continue
            if service in logs:
                found.append(str(r.run_id))
                labels[str(r.run_id)] = f"{r.scenario} · seed {r.seed} · {r.created} · {r.run_id}"
    with st.expander(f"Output and logs of {service} in stored runs ({len(found)} of the last {MAX_RUNS})"):
        if not found:
            st.caption(f"No stored run with a service named {service!r} yet.")
            return
        run = st.selectbox("Run", found, format_func=lambda k: labels[k], key=f"plugin_logs:{service}")
        show_log(store.logs(run)[service])
        st.caption(f"Also: `python -m simulation logs {run} --service {service}`")
