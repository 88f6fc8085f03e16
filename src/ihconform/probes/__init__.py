"""Built-in probes: pytest modules, one per domain, that judge controls on gathered facts.

Each probe function is decorated with ``@probe("<id>")`` and listed in
``ihconform.registry.PROBES``. It receives ``check`` (the control and object) and the facts
fixtures it needs, and records one verdict on ``check``.
"""
