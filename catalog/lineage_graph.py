"""The lineage graph: sources -> pipelines -> entities and their columns, laid out by Graphviz's dot.

What feeds what comes from the lineage registry (`catalog.lineage`), so the catalog draws pipelines without
importing the pipelines app. Every node links to its admin page where there is one and the user may see it.
"""

from django.db.models import QuerySet

from catalog.diagrams import (
    FONT,
    AdminLinks,
    DotGraph,
    Html,
    dot_render,
    html_text,
    is_site_link,
    link_attrs,
)
from catalog.lineage import LineageRow, lineage_by_column
from catalog.models import Column, DataStore, Entity

__all__ = ["lineage_source", "lineage_graph"]

LINEAGE_GRAPH = {
    "rankdir": "LR",
    "splines": "spline",
    "nodesep": "0.3",
    "ranksep": "1.3",
    "pad": "0.3",
    "bgcolor": "white",
    "fontname": FONT,
    "fontsize": "10",
    "labelloc": "b",
    "labeljust": "l",
    "label": (
        "Sources (notes) feed pipelines (rounded boxes), which load entity columns; an edge into a column "
        "names the source field it takes. Grey columns are loaded by nothing. Click a box to open its page."
    ),
}
LINEAGE_NODE = {"fontname": FONT, "fontsize": "10"}
LINEAGE_EDGE = {
    "color": "#4f6372",
    "arrowsize": "0.7",
    "fontname": FONT,
    "fontsize": "8",
    "fontcolor": "#5b6770",
}
SOURCE_STYLE = {"shape": "note", "style": "filled", "fillcolor": "#f4efe1", "color": "#a68a3a"}
PIPELINE_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#e3eef2", "color": "#3b7080"}
UNLOADED = "#9aa3aa"


def lineage_graph(
    datastore: DataStore | None = None, entity: Entity | None = None, format: str = "svg", *, user=None
) -> bytes:
    """Where a data store's (or one entity's) data comes from, as SVG, PNG or DOT bytes: each source feeds
    the pipelines that read it, each pipeline the columns it loads, drawn inside their entities."""
    return dot_render(lineage_source(datastore=datastore, entity=entity, user=user), format=format)


def lineage_source(*, datastore: DataStore | None = None, entity: Entity | None = None, user=None) -> str:
    """The DOT text of `lineage_graph`. An entity's graph lists all its columns (those no pipeline loads in
    grey); a data store's lists only the entities and columns something loads."""
    if entity is None and datastore is None:
        raise ValueError("Give a data store or an entity.")
    columns = _columns(datastore, entity)
    rows_by_column = lineage_by_column(columns, user=user)
    graph = DotGraph("lineage", graph=LINEAGE_GRAPH, node=LINEAGE_NODE, edge=LINEAGE_EDGE)
    loaded = [column for column in columns if column.pk in rows_by_column]
    shown = list(columns) if entity is not None else loaded
    if not loaded:
        graph.node("nothing", shape="plaintext", label=_nothing_loaded(entity, datastore))
    _entity_nodes(graph, shown, rows_by_column, AdminLinks(user))
    _source_and_pipeline_nodes(graph, [row for column in loaded for row in rows_by_column[column.pk]])
    for column in loaded:
        for number, row in enumerate(rows_by_column[column.pk]):
            graph.edge(
                _pipeline_node(row),
                (_entity_node(column.entity), _port(column), "w"),
                id=f"loads-{column.pk}-{number}",
                label=row.source_field or "(constant)",
                tooltip=_edge_tooltip(row, column),
            )
    return graph.source()


def _columns(datastore: DataStore | None, entity: Entity | None) -> QuerySet:
    columns = Column.objects.select_related("entity__datastore").order_by("entity__name", "position", "id")
    if entity is not None:
        return columns.filter(entity=entity)
    return columns.filter(entity__datastore=datastore)


def _nothing_loaded(entity: Entity | None, datastore: DataStore | None) -> str:
    what = f"entity {entity.name}" if entity is not None else f"data store {datastore.name}"
    return f"No pipeline has loaded {what} yet: lineage is recorded by each successful run."


def _entity_node(entity: Entity) -> str:
    return f"entity:{entity.datastore.name}.{entity.name}"


def _pipeline_node(row: LineageRow) -> str:
    return f"via:{row.via}"


def _source_node(row: LineageRow) -> str:
    return f"source:{row.source}"


def _port(column: Column) -> str:
    return f"c{column.pk}"


def _edge_tooltip(row: LineageRow, column: Column) -> str:
    field = f"{row.source}: {row.source_field}" if row.source_field else f"{row.source}: a constant"
    steps = f" ({row.steps})" if row.steps else ""
    return f"{field} → {column}{steps}, by {row.via}"


def _entity_nodes(graph: DotGraph, columns: list[Column], rows_by_column: dict, links: AdminLinks) -> None:
    by_entity: dict[int, list[Column]] = {}
    for column in columns:
        by_entity.setdefault(column.entity_id, []).append(column)
    for entity_columns in by_entity.values():
        entity = entity_columns[0].entity
        graph.node(
            _entity_node(entity),
            shape="plain",
            label=_entity_label(entity, entity_columns, rows_by_column, links),
            id=f"entity-{entity.pk}",
        )


def _entity_label(entity: Entity, columns: list[Column], rows_by_column: dict, links: AdminLinks) -> Html:
    tooltip = entity.description or entity.qualified_name
    header = (
        f'<TR><TD BGCOLOR="#26505e"{link_attrs(links.entity(entity), tooltip)}>'
        f'<FONT COLOR="white"><B>{html_text(entity.name)}</B></FONT></TD></TR>'
    )
    rows = []
    for column in columns:
        color = "#1f2328" if column.pk in rows_by_column else UNLOADED
        rows.append(
            f'<TR><TD ALIGN="LEFT" PORT="{_port(column)}"{link_attrs(links.column(column), str(column))}>'
            f'<FONT COLOR="{color}">{html_text(column.name)}</FONT></TD></TR>'
        )
    return Html(
        '<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" COLOR="#8ea4b0">'
        f"{header}{''.join(rows)}</TABLE>"
    )


def _source_and_pipeline_nodes(graph: DotGraph, rows: list[LineageRow]) -> None:
    sources: dict[str, LineageRow] = {}
    pipelines: dict[str, LineageRow] = {}
    feeds: set[tuple[str, str]] = set()
    for row in rows:
        sources.setdefault(_source_node(row), row)
        pipelines.setdefault(_pipeline_node(row), row)
        feeds.add((_source_node(row), _pipeline_node(row)))
    for node_id, row in sorted(sources.items()):
        graph.node(node_id, label=row.source, tooltip=f"source {row.source}", **SOURCE_STYLE)
    for node_id, row in sorted(pipelines.items()):
        url = row.via_url if is_site_link(row.via_url) else None
        graph.node(node_id, label=row.via, URL=url, tooltip=row.via, **PIPELINE_STYLE)
    for source, pipeline in sorted(feeds):
        graph.edge(source, pipeline)
