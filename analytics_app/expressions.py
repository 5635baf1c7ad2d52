"""Two database expressions the ORM lacks: seconds between two timestamps, and a median."""

from __future__ import annotations

from django.db.models import Aggregate, FloatField, Func


class SecondsBetween(Func):
    """`end - start` in seconds, as a float, on PostgreSQL and SQLite alike."""

    output_field = FloatField()
    arity = 2

    def __init__(self, end: str, start: str) -> None:
        super().__init__(end, start)

    def as_postgresql(self, compiler, connection, **extra):  # noqa: ANN001, ANN003, ANN201
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))::float8", arg_joiner=" - "
        )

    def as_sqlite(self, compiler, connection, **extra):  # noqa: ANN001, ANN003, ANN201
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
        )


class Median(Aggregate):
    """PostgreSQL's ordered-set aggregate; callers use another way on other databases."""

    function = "PERCENTILE_CONT"
    name = "Median"
    output_field = FloatField()
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False
