"""``python -m mcudeploy``: the same command line, through the same guard, as the ``mcudeploy`` script."""

from .cli import main

main()
