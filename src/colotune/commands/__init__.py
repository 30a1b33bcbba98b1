"""Subcommands of `colotune`: each module parses its arguments and calls the library."""
