"""The run wing: what one ``ihconform run`` is.

``launch`` builds the pytest command line for the CLI; ``plugin`` is the pytest plugin that
plans, parametrises and provides fixtures; ``reporter`` turns each pytest outcome into a
verdict; ``state`` is what the session holds; ``build`` makes the one results model; ``folder``
writes the run folder atomically; ``distribute`` spreads a run over xdist workers. The
dependencies run one way (launch and plugin at the top, state at the bottom), so no module
of the run reaches back into the one that uses it (``tests/unit/test_import_graph.py``).
"""
