"""Opaque public identifiers: a readable prefix and 20 random base-32 characters (100 bits)."""

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def session_public_id() -> str:
    return new_public_id("dev")


def run_public_id() -> str:
    return new_public_id("run")


def artifact_public_id() -> str:
    return new_public_id("art")


def approval_public_id() -> str:
    return new_public_id("apr")


def knowledge_public_id() -> str:
    return new_public_id("kn")


def verification_public_id() -> str:
    return new_public_id("ver")


def message_public_id() -> str:
    return new_public_id("msg")
