"""Where a catalog entity's data comes from, as told by the apps that move data into it.

The catalog imports none of those apps (dependencies point one way): an app registers a provider when it
is ready, and the catalog's pages ask every provider for the rows about the columns they show.

    def pipeline_lineage(columns, *, user=None) -> list[LineageRow]: ...
    register_lineage_provider(pipeline_lineage)   # in PipelinesConfig.ready()

Graphs over a whole data store need to know which column each row is about. A provider that can say so
registers a second function, called once for all the columns (without it, it is asked entity by entity):

    def pipeline_lineage_by_column(columns, *, user=None) -> list[tuple[int, LineageRow]]: ...
    register_lineage_by_column(pipeline_lineage, pipeline_lineage_by_column)
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

__all__ = [
    "LineageRow",
    "LineageProvider",
    "lineage_providers",
    "register_lineage_provider",
    "column_lineage",
    "entity_lineage",
    "LineageByColumnProvider",
    "lineage_by_column_providers",
    "register_lineage_by_column",
    "lineage_by_column",
]


@dataclass(frozen=True)
class LineageRow:
    """One source field (or constant) feeding one column, through one process (e.g. a pipeline).

    URLs are empty when the user may not open the page they lead to.
    """

    column: str
    via: str
    via_url: str
    source: str
    source_field: str
    steps: str
    last_run: str = ""
    last_run_url: str = ""
    last_run_at: datetime | None = None
    column_position: int = 0


# (columns, user) -> rows about those columns; one query per provider, whatever the number of columns.
LineageProvider = Callable[..., list[LineageRow]]

lineage_providers: list[LineageProvider] = []


def register_lineage_provider(provider: LineageProvider) -> LineageProvider:
    """Add a provider (once, however often an app's ready() runs); returns it, so it can decorate."""
    if provider not in lineage_providers:
        lineage_providers.append(provider)
    return provider


def _lineage(columns: QuerySet, user) -> list[LineageRow]:
    rows = [row for provider in lineage_providers for row in provider(columns, user=user)]
    return sorted(rows, key=lambda row: (row.column_position, row.column, row.via, row.source_field))


def column_lineage(column, *, user=None) -> list[LineageRow]:
    """Where one column's values come from, per every registered provider."""
    return _lineage(type(column).objects.filter(pk=column.pk), user)


def entity_lineage(entity, *, user=None) -> list[LineageRow]:
    """Where the values of an entity's columns come from, column by column."""
    return _lineage(entity.columns.all(), user)


# (columns, user) -> [(column id, row)]: a provider's rows, each with the id of the column it is about.
LineageByColumnProvider = Callable[..., list[tuple[int, LineageRow]]]

lineage_by_column_providers: dict[LineageProvider, LineageByColumnProvider] = {}


def register_lineage_by_column(provider: LineageProvider, by_column: LineageByColumnProvider) -> None:
    """Let a registered provider answer for the columns of many entities in one call: `by_column` returns
    the same rows as `provider`, each paired with its column's id."""
    lineage_by_column_providers[provider] = by_column


def lineage_by_column(columns: QuerySet, *, user=None) -> dict[int, list[LineageRow]]:
    """Where the values of many columns (e.g. all of a data store's) come from, by column id.

    One call per provider that registered a by-column form; any other provider is asked once per entity
    and its rows are matched to columns by name within that entity.
    """
    pairs: list[tuple[int, LineageRow]] = []
    for provider in lineage_providers:
        by_column = lineage_by_column_providers.get(provider)
        if by_column is not None:
            pairs += by_column(columns, user=user)
        else:
            pairs += _lineage_entity_by_entity(provider, columns, user)
    rows: dict[int, list[LineageRow]] = defaultdict(list)
    for column_id, row in sorted(pairs, key=lambda pair: (pair[0], pair[1].via, pair[1].source_field)):
        rows[column_id].append(row)
    return dict(rows)


def _lineage_entity_by_entity(
    provider: LineageProvider, columns: QuerySet, user
) -> list[tuple[int, LineageRow]]:
    ids_by_entity: dict[int, dict[str, int]] = defaultdict(dict)
    for column_id, entity_id, name in columns.values_list("pk", "entity_id", "name"):
        ids_by_entity[entity_id][name] = column_id
    pairs = []
    for entity_id, ids in ids_by_entity.items():
        for row in provider(columns.filter(entity_id=entity_id), user=user):
            if row.column in ids:
                pairs.append((ids[row.column], row))
    return pairs
