"""The ``keybundle`` command line: a thin adapter over :mod:`keybundle` and
:mod:`transparency_log`. Installed as the import package ``keybundle_cli``."""

__all__: list[str] = []
