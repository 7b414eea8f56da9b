"""``python -m bwmsg``: the same as the ``bwmsg`` command."""

from .cli import main

main()
