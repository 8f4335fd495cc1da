"""The engine beneath ``measure`` and ``models``: generic estimation machinery.

Modules here import only the foundation (``errors``, ``_results``, ``schema``
and the formatting helpers), never a stage. Import the modules directly
(``from undervisning_analys.engine import robust``); nothing is imported
eagerly here.
"""
