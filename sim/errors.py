"""Errors shown to the user as a message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for; its message is shown as is."""
