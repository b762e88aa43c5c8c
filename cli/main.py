"""Entry point of the ``keybundle`` command (console script ``keybundle``).

``keybundle verify`` is run as a fresh process by clients, so it is dispatched before click
and the command tree are imported (its cost is measured in bench/bench_verify.py against
importing the crypto libraries alone). Every other command goes through click.

``keybundle verify`` needs only the base install (the client verifier's dependencies); every
other command needs the ``operator`` extra (click, requests, waitress, prometheus-client).
Without it the command says so in one line and exits 2, rather than failing with an
ImportError.

Exit codes (CLI §10): 0 success; 1 verification rejected the input; 2 bad usage, an
unreadable or malformed file, or another error the user can fix.
"""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["OPERATOR_MODULES", "main"]

OPERATOR_MODULES = ("click", "requests", "waitress", "prometheus_client")
"""What the ``operator`` extra installs: every command but ``verify`` may import them."""


def _missing_operator_modules() -> list[str]:
    from importlib.util import find_spec  # not on `keybundle verify`'s start-up path

    return [name for name in OPERATOR_MODULES if find_spec(name) is None]


def _exit_now(code: int) -> NoReturn:
    """End the ``keybundle verify`` process with ``code``, skipping the interpreter's teardown.

    Everything the command does is done when it returns (the state file flushed and
    renamed, SPEC §7.4; the lock released), so only its output is left to flush. Tearing
    down every module and running the collector over them again costs ~6% of the command's
    CPU time for nothing (bench/bench_verify.py). A flush that fails (a closed pipe) exits
    the ordinary way instead, so that the interpreter reports it as it always does.
    """
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        raise SystemExit(code) from None
    os._exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run ``keybundle`` with ``argv`` (default ``sys.argv[1:]``) and exit."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "verify":
        command = argv is None  # the `keybundle` process itself, not a caller's main(argv)
        if command:
            # No cyclic garbage collection in this process: what the imports create (most
            # of what it allocates) lives until it exits, so the collector would only
            # traverse it again and again (~7% of the command's CPU time,
            # bench/bench_verify.py), and the decision that follows is one bounded piece of
            # work (inputs capped at 4 MiB) whose acyclic garbage reference counting frees
            # as usual. mypy tunes its collector for its start-up in the same spirit.
            import gc

            gc.disable()
        from .verify import run

        code = run(args[1:])
        if command:
            _exit_now(code)
        raise SystemExit(code)
    missing = _missing_operator_modules()
    if missing:
        print(
            f"keybundle: error: this command needs the operator install, "
            f"`pip install 'keybundle[operator]'` (missing: {', '.join(missing)}); "
            f"`keybundle verify` works without it",
            file=sys.stderr,
        )
        raise SystemExit(2)
    from .commands import run_cli

    raise SystemExit(run_cli(args))
