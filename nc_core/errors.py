"""Errors that are the user's to fix: the CLI reports them as one line with exit status 2."""


class UserError(Exception):
    """Something wrong in what the user gave nc (a file, an option, the machine's setup)."""
