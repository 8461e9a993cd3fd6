"""The kiosk core: certification flow, rules, storage, sync, configuration and the CLI.

Never imports Qt (``ui/`` does); depends on ``camera`` and ``reader``, never the other way round.
"""

__version__ = "0.1.0"
