"""The ways an item cannot be measured as asked, shared by every layer (a leaf: imports nothing)."""

from __future__ import annotations


class NotAvailable(Exception):
    """This runtime cannot run this combination; the message is the skip reason."""


class ArtifactError(Exception):
    """The model file is missing, corrupt or does not match its checksum, input spec or data."""


class CardError(Exception):
    """A zoo model is missing or its card is unreadable."""
