"""Prefect flows (one module per user job) and the ``sla2p-bench`` CLI."""
