"""Which word on the command line is the subcommand, and which bare words only look like an intent.

A session costs money with a paid model, so a word that names a subcommand never starts one, and a
single word that is a near miss of one ("stauts", "lsit") is confirmed first.
"""

from __future__ import annotations

COMMANDS = ("start", "watch", "status", "list", "logs", "open", "login")
ALIASES = {"ls": "list", "show": "status", "attach": "watch", "follow": "watch", "log": "logs", "new": "start"}


def split_command(argv: list[str], value_options: set[str]) -> tuple[str | None, list[str]]:
    """The first positional word and the arguments without it; options that take a value skip that value."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--":
            return (argv[index + 1], argv[:index] + argv[index + 2 :]) if index + 1 < len(argv) else (None, argv)
        elif arg.startswith("-") and arg != "-":
            skip = arg in value_options  # `--url=X` carries its value
        else:
            return arg, argv[:index] + argv[index + 1 :]
    return None, argv


def near_miss(word: str) -> str | None:
    """The command a single bare word probably meant, or None when it reads as an intent."""
    if any(ch.isspace() for ch in word):
        return None  # several words: an intent, as always
    lowered = word.lower()
    if lowered in COMMANDS or lowered == "help":
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    candidates = [*COMMANDS, "help"]
    prefixes = [c for c in candidates if len(lowered) >= 3 and c.startswith(lowered)]
    if len(prefixes) == 1:
        return prefixes[0]
    scored = [(distance(lowered, c), c) for c in candidates]
    best, command = min(scored)
    return command if best <= (1 if len(command) <= 4 else 2) and len(lowered) >= 3 else None


def distance(a: str, b: str) -> int:
    """Edits between two words (optimal string alignment: insert, delete, substitute, swap two neighbours)."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]
