"""Embedded/team settings: everything comes from the environment (see base.py)."""

from config.settings.base import *  # noqa: F401,F403
