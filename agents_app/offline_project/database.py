"""The database agent's files: `db/schema.sql` (SQLite, quoted identifiers, foreign keys) and
`app/models.py` (one dataclass per entity, the shape of a row)."""

from __future__ import annotations

from agents_app.offline_project.spec import entity_by_name
from agents_app.offline_project.text import quote_sql

SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "date": "TEXT", "datetime": "TEXT"}
PY_TYPES = {"str": "str", "int": "int", "float": "float", "bool": "bool", "date": "str", "datetime": "str"}


def schema_sql(spec: dict) -> str:
    lines = ["PRAGMA foreign_keys = ON;", ""]
    for entity in spec["entities"]:
        columns = [f"    {quote_sql('id')} INTEGER PRIMARY KEY AUTOINCREMENT"]
        for field in entity["fields"]:
            column = f"    {quote_sql(field['name'])} {SQL_TYPES[field['type']]}"
            if field["required"]:
                column += " NOT NULL"
            if field["type"] == "bool":
                column += f" CHECK ({quote_sql(field['name'])} IN (0, 1))"
                if field["default"] is not None:
                    column += f" DEFAULT {int(field['default'])}"
            if field["references"]:
                parent = entity_by_name(spec, field["references"])
                column += f" REFERENCES {quote_sql(parent['table'])} ({quote_sql('id')}) ON DELETE CASCADE"
            columns.append(column)
        lines.append(f"-- {entity['label']}: {len(entity['fields'])} fields")
        lines.append(f"CREATE TABLE IF NOT EXISTS {quote_sql(entity['table'])} (\n" + ",\n".join(columns) + "\n);")
        for field in entity["fields"]:
            if field["references"]:
                index = f"{entity['table']}_{field['name']}_idx"
                lines.append(
                    f"CREATE INDEX IF NOT EXISTS {quote_sql(index)} ON {quote_sql(entity['table'])} ({quote_sql(field['name'])});"
                )
        lines.append("")
    return "\n".join(lines)


def models_source(spec: dict) -> str:
    parts = [
        '"""The records the API stores, one dataclass per entity (ISO 8601 strings for dates and times)."""\n\n'
        "from __future__ import annotations\n\nfrom dataclasses import asdict, dataclass\n"
    ]
    for entity in spec["entities"]:
        required = [f for f in entity["fields"] if f["required"]]
        optional = [f for f in entity["fields"] if not f["required"]]
        body = f'    """A {entity["label"]} (table {entity["table"]!r})."""\n\n    id: int\n'
        for field in required:
            body += f"    {field['name']}: {PY_TYPES[field['type']]}\n"
        for field in optional:
            body += f"    {field['name']}: {PY_TYPES[field['type']]} | None = {field['default']!r}\n"
        body += "\n    def to_dict(self) -> dict:\n        return asdict(self)\n"
        parts.append(f"\n\n@dataclass\nclass {entity['name']}:\n{body}")
    tables = ", ".join(f"{e['name']!r}: {e['table']!r}" for e in spec["entities"])
    parts.append(f"\n\nTABLES = {{{tables}}}\n")
    return "".join(parts)


def files(spec: dict) -> list[tuple[str, str, str]]:
    return [("db/schema.sql", "code", schema_sql(spec)), ("app/models.py", "code", models_source(spec))]
