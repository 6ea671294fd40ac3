"""``python -m agency`` runs the CLI."""

from agency.cli import main

main()
