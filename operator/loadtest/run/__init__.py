"""Orchestration of one run: `prepare` (every refusal, before anything starts) → execute on a
backend → report (summary table, gate, artifacts).

May import every other subpackage; nothing but the CLI imports it.
"""
