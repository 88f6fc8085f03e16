"""ihconform: conformance testing harness for internet hospitals in China.

The flow is one line: inventory + profiles -> pytest session -> facts gathered once per
target -> controls judged -> one results model -> every report format renders from it.
"""

__version__ = "0.1.0"
