"""Knowledge search on SQLite (the embedded default): an FTS5 index over the documents, kept in step by triggers.

An external-content FTS5 table reads its text from `agents_app_knowledgedocument` (no second copy);
SQL triggers on insert, delete and a change of title, tags or body keep the index equal to the rows,
whatever writes them (services, bulk statements, cascades). The organisation is an indexed column
too, so a search reads only its organisation's postings. PostgreSQL keeps its `tsvector` and GIN
index (0004): on PostgreSQL this migration does nothing.
"""

from django.db import migrations

TABLE = "agents_app_knowledgedocument"
FTS = "agents_app_knowledge_fts"
COLUMNS = "title, tags, body, organization_id"

CREATE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5("
    f"{COLUMNS}, content='{TABLE}', content_rowid='id', tokenize='porter unicode61')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}(rowid, {COLUMNS}) VALUES (new.id, new.title, new.tags, new.body, new.organization_id); "
    "END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {COLUMNS}) "
    "VALUES ('delete', old.id, old.title, old.tags, old.body, old.organization_id); "
    "END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF title, tags, body, organization_id ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {COLUMNS}) "
    "VALUES ('delete', old.id, old.title, old.tags, old.body, old.organization_id); "
    f"INSERT INTO {FTS}(rowid, {COLUMNS}) VALUES (new.id, new.title, new.tags, new.body, new.organization_id); "
    "END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",  # the documents written before this migration
]
DROP = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE IF EXISTS {FTS}",
]


def _run(statements: list[str]):  # noqa: ANN202
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor != "sqlite":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    return run


def create(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        options = {row[0] for row in cursor.execute("PRAGMA compile_options").fetchall()}
    if "ENABLE_FTS5" not in options:
        raise RuntimeError(
            "This Python's SQLite was built without FTS5, which knowledge search needs; use a Python whose "
            "sqlite3 has it (python.org, Debian, Ubuntu and Homebrew builds do) or PostgreSQL (DATABASE_URL)."
        )
    _run(CREATE)(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("agents_app", "0011_awaiting_answer"),
    ]

    operations = [
        migrations.RunPython(create, _run(DROP), elidable=False),
    ]
