"""Signals the domain sends so the engine (a floor above) can react without being imported here."""

from django.dispatch import Signal

#: Sent inside the transaction of every session status change: `session`, `previous`, `status`.
session_status_changed = Signal()
