"""The `gridline` subcommands that build the whole context (intake.context) to do their work:
entry points, so they stand above the packages they drive, next to cli.py."""
