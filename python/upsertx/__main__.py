"""``python -m upsertx``: the command line."""

from ._cli import main

main()
