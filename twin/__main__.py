"""``python -m twin`` runs the ``twin`` command line."""

from twin.cli import main

main()
