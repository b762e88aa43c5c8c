"""The ``keybundle`` command line: a thin adapter over :mod:`keybundle` and
:mod:`transparency_log`. Installed as the import package ``keybundle_cli``.

The top layer: nothing in ``keybundle`` or ``transparency_log`` imports it (``lint-imports``
checks this). Shared options and the trust-root parameter type live in ``_common``."""

__all__: list[str] = []
