"""Read-only queries: statistics, work lists, the home page's figures, similar cases.

They only read; every rule of who may see what comes from ``models.policies``.
"""
