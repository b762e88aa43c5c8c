"""``python -m keybundle_cli``."""

from keybundle_cli.main import main

main()
