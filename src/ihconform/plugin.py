"""Compatibility: the ``pytest11`` entry point of installs made before issue 14 names this module.

The plugin is :mod:`ihconform.run.plugin`; an environment installed before it moved still
records ``ihconform = "ihconform.plugin"`` in its entry points until ``pip install -e .`` is
run again, and pytest would fail to start without this module. It registers the plugin's
hooks and fixtures by being the same names; nothing in the package imports it.
"""

from ihconform.run.plugin import *  # noqa: F403
