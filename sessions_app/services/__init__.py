"""Writes: plain functions, keyword-only arguments, one transaction each, events recorded inside it."""
