"""CLI subcommands, one module each.

Every module here defines ``register(subparsers)`` which adds its subparser and sets
``handler=<function(args) -> int>`` as a default. :mod:`sensorhub.cli` discovers the modules
in name order, so adding a command means adding a file, not editing a shared list.
"""
