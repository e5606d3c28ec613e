"""ER diagrams of data stores and domains, laid out by Graphviz's dot, and the DOT writer they share.

Catalog text reaches DOT through one gate: `dot_quote` for IDs and attribute values, `html_text` for the
pieces of HTML-like labels. dot runs as a subprocess with a timeout, so a catalog too big to lay out costs a
clear refusal, not a stuck request. `svg_sanitize` turns dot's SVG into markup a page can show inline.
"""

import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch
from django.urls import reverse

from catalog.choices import EntityKind
from catalog.exceptions import CatalogError
from catalog.models import Column, DataStore, Domain, Entity

__all__ = [
    "DIAGRAM_FORMATS",
    "DOT_TIMEOUT_SECONDS",
    "DiagramError",
    "Html",
    "html_text",
    "dot_quote",
    "DotGraph",
    "AdminLinks",
    "link_attrs",
    "is_site_link",
    "FONT",
    "dot_render",
    "svg_sanitize",
    "er_source",
    "er_diagram",
]

# What each format is served as.
DIAGRAM_FORMATS = {"svg": "image/svg+xml", "png": "image/png", "dot": "text/vnd.graphviz; charset=utf-8"}
# Under a web server's own worker timeout (gunicorn's default is 30 s): we refuse before it kills us.
DOT_TIMEOUT_SECONDS = 20
# Characters XML 1.0 cannot carry (dot would write them into the SVG and break it).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FONT = "Helvetica,Arial,sans-serif"
PII_RED = "#ba2121"


class DiagramError(CatalogError):
    """A diagram Graphviz could not draw (dot missing, failing or too slow)."""


# The DOT writer


class Html(str):
    """An HTML-like label assembled from `html_text` pieces; DOT gets it between < and >, not quotes."""


def html_text(value: object) -> str:
    """Text (or an attribute value) inside an HTML-like label, with <, >, &, " and ' escaped, and
    backslashes doubled: dot still expands \\N, \\G ... there."""
    text = CONTROL_CHARACTERS.sub("", str(value)).replace("\\", "\\\\")
    # A tab or line break would vanish from the label, gluing words together.
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return html.escape(text, quote=True)


def dot_quote(value: object) -> str:
    """A DOT ID or attribute value: an `Html` label as <...>, anything else as a quoted string whose
    backslashes and quotes are escaped, so no name can end the string or start an escape sequence."""
    if isinstance(value, Html):
        return f"<{value}>"
    text = CONTROL_CHARACTERS.sub("", str(value)).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _attribute_list(attrs: dict) -> str:
    pairs = [f"{name}={dot_quote(value)}" for name, value in attrs.items() if value is not None]
    return f" [{', '.join(pairs)}]" if pairs else ""


Endpoint = str | tuple[str, str] | tuple[str, str, str]  # node, (node, port) or (node, port, compass)
COMPASS_POINTS = {"n", "ne", "e", "se", "s", "sw", "w", "nw", "c", "_"}


class DotGraph:
    """A directed graph as DOT text; every ID, port and attribute value goes through `dot_quote`."""

    def __init__(self, name: str, *, graph: dict, node: dict, edge: dict):
        self._lines = [
            f"digraph {dot_quote(name)} {{",
            f"  graph{_attribute_list(graph)};",
            f"  node{_attribute_list(node)};",
            f"  edge{_attribute_list(edge)};",
        ]

    def node(self, node_id: str, **attrs) -> None:
        self._lines.append(f"  {dot_quote(node_id)}{_attribute_list(attrs)};")

    def edge(self, tail: Endpoint, head: Endpoint, **attrs) -> None:
        self._lines.append(f"  {self._endpoint(tail)} -> {self._endpoint(head)}{_attribute_list(attrs)};")

    def cluster(self, cluster_id: str, node_ids: Iterable[str], **attrs) -> None:
        """Draw the given (already added) nodes in a box; `cluster_id` must be unique in the graph."""
        members = " ".join(f"{dot_quote(node_id)};" for node_id in node_ids)
        graph_attrs = "".join(f" {name}={dot_quote(value)};" for name, value in attrs.items())
        self._lines.append(f"  subgraph {dot_quote('cluster_' + cluster_id)} {{{graph_attrs} {members} }}")

    def source(self) -> str:
        return "\n".join([*self._lines, "}", ""])

    @staticmethod
    def _endpoint(endpoint: Endpoint) -> str:
        if isinstance(endpoint, str):
            return dot_quote(endpoint)
        node_id, port, *compass = endpoint
        # A compass point is a bare keyword (e, w, ...); quoted, dot would take it for a port name.
        if not set(compass) <= COMPASS_POINTS:
            raise ValueError(f"{compass[0]!r} is not a compass point; use one of {sorted(COMPASS_POINTS)}.")
        return f"{dot_quote(node_id)}:{dot_quote(port)}" + "".join(f":{point}" for point in compass)


def dot_render(source: str, *, format: str = "svg") -> bytes:
    """The graph drawn by dot in `format` (svg, png, or dot for the source itself)."""
    if format not in DIAGRAM_FORMATS:
        raise ValueError(f"Unknown diagram format {format!r}; choose one of {', '.join(DIAGRAM_FORMATS)}.")
    if format == "dot":
        return source.encode("utf-8")
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError(
            "Graphviz's dot program is not installed, so diagrams cannot be drawn: run .ci/graphviz.sh "
            "(or apt-get install graphviz)."
        )
    try:
        result = subprocess.run(
            [dot, f"-T{format}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DiagramError(
            f"Graphviz needed more than {DOT_TIMEOUT_SECONDS} seconds to lay out this diagram; "
            "draw one domain (or one entity's lineage) at a time."
        ) from None
    if result.returncode != 0 or not result.stdout:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiagramError(f"Graphviz could not draw the diagram: {reason[0] if reason else 'no output'}.")
    return result.stdout


# Inline SVG

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# What dot writes; anything else (script, foreignObject, ...) is dropped.
SVG_ELEMENTS = {"svg", "g", "a", "title", "path", "polygon", "polyline", "ellipse", "text", "line", "rect"}
ET.register_namespace("xlink", XLINK_NS)


def _local_name(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def is_site_link(url: str) -> bool:
    """Whether a URL may be a diagram's link."""
    # Admin pages only: a path on this site, never another scheme (javascript:, data:) or host.
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def svg_sanitize(svg: bytes) -> str:
    """dot's SVG as markup safe to place inline in a page: well-formed (or DiagramError), without the XML
    prolog and comments, and without scripts, event handlers or links that leave the site."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    try:
        root = ET.fromstring(text[start:] if start >= 0 else text)
    except ET.ParseError as exc:
        raise DiagramError(f"Graphviz wrote an SVG that is not well-formed XML ({exc}).") from None
    if _local_name(root.tag) != "svg":
        raise DiagramError("Graphviz's output is not an SVG drawing.")
    for parent in root.iter():
        for child in list(parent):
            if _local_name(child.tag) not in SVG_ELEMENTS:
                parent.remove(child)
    for element in root.iter():
        # SVG elements are written unprefixed under the root's xmlns; only xlink:href keeps a prefix.
        element.tag = _local_name(element.tag)
        for name, value in list(element.attrib.items()):
            local = _local_name(name)
            if local.lower().startswith("on") or (local == "href" and not is_site_link(value)):
                del element.attrib[name]
    root.set("xmlns", SVG_NS)
    return ET.tostring(root, encoding="unicode")


# Links to admin pages


@dataclass(frozen=True)
class AdminLinks:
    """Admin change-page URLs of catalog objects, empty where the user may not view that kind of object."""

    user: object = None

    def _may_view(self, model_name: str) -> bool:
        return self.user is None or self.user.has_perm(f"catalog.view_{model_name}")

    def entity(self, entity: Entity) -> str:
        return reverse("admin:catalog_entity_change", args=[entity.pk]) if self._may_view("entity") else ""

    def column(self, column: Column) -> str:
        return reverse("admin:catalog_column_change", args=[column.pk]) if self._may_view("column") else ""


def link_attrs(url: str, tooltip: str) -> str:
    """HREF and TOOLTIP of an HTML-label cell (an empty URL makes no link)."""
    attrs = f' TOOLTIP="{html_text(tooltip)}"' if tooltip else ""
    return f' HREF="{html_text(url)}"{attrs}' if url else attrs


# The ER diagram

ER_GRAPH = {
    "rankdir": "LR",
    # Curved edges keep the cardinality labels at both ends (ortho misplaces them) and crossings readable
    # with 50+ tables; nodesep/ranksep give the labels room without a sprawling page. No concentrate: it
    # merges the keys into a hub's shared trunk and their end labels drift away from the tables.
    "splines": "spline",
    "nodesep": "0.35",
    "ranksep": "1.1",
    "pad": "0.3",
    "bgcolor": "white",
    "fontname": FONT,
    "fontsize": "10",
    "labelloc": "b",
    "labeljust": "l",
}
ER_NODE = {"shape": "plain", "fontname": FONT, "fontsize": "10"}
ER_EDGE = {
    "dir": "both",
    "color": "#4f6372",
    "arrowsize": "0.8",
    "fontname": FONT,
    "fontsize": "9",
    "labelfontsize": "9",
    "labelfontcolor": "#26505e",
    "labeldistance": "1.6",
    "labelangle": "25",
}


@dataclass(frozen=True)
class EntityColors:
    header: str
    header_text: str
    border: str
    text: str
    quiet: str


NORMAL = EntityColors(
    header="#26505e", header_text="white", border="#8ea4b0", text="#1f2328", quiet="#5b6770"
)
GREYED = EntityColors(
    header="#d5d9dc", header_text="#5b6770", border="#c3c8cc", text="#7b858c", quiet="#9aa3aa"
)

ER_LEGEND = Html(
    '<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2"><TR>'
    '<TD ALIGN="LEFT"><B>PK</B> primary key  <B>FK</B> foreign key  <B>UQ</B> unique  '
    f'<FONT COLOR="{PII_RED}"><B>PII</B> <I>personal data</I></FONT>  '
    "edge ends: <B>N</B> many, <B>1</B> exactly one, <B>0..1</B> at most one "
    "(crow's foot = many, circle = optional)</TD></TR></TABLE>"
)


def er_diagram(
    datastore: DataStore | None = None, domain: Domain | None = None, format: str = "svg", *, user=None
) -> bytes:
    """The ER diagram of a data store's entities (or a domain's, with the entities they reference outside it
    greyed) as SVG, PNG or DOT bytes. Links lead to admin pages the user may view (all when user is None)."""
    return dot_render(er_source(datastore=datastore, domain=domain, user=user), format=format)


def er_source(*, datastore: DataStore | None = None, domain: Domain | None = None, user=None) -> str:
    """The DOT text of `er_diagram`."""
    if datastore is None and domain is None:
        raise ValueError("Give a data store, a domain, or both.")
    entities = _er_entities(datastore, domain)
    outside = _referenced_outside(entities) if domain is not None else []
    links = AdminLinks(user)
    graph = DotGraph("er", graph={**ER_GRAPH, "label": _er_legend(domain)}, node=ER_NODE, edge=ER_EDGE)
    for entity, colors in [*((e, NORMAL) for e in entities), *((e, GREYED) for e in outside)]:
        graph.node(
            _entity_node(entity),
            label=_entity_label(entity, entity.diagram_columns, links, colors),
            id=f"entity-{entity.pk}",
        )
    stores = {entity.datastore_id: entity.datastore for entity in [*entities, *outside]}
    if len(stores) > 1:
        # A domain spanning data stores: each store's entities in a box named after it.
        for store in sorted(stores.values(), key=lambda store: store.name):
            members = [_entity_node(e) for e in [*entities, *outside] if e.datastore_id == store.pk]
            graph.cluster(f"store-{store.pk}", members, label=f"data store {store.name}", color="#c3c8cc")
    _er_edges(graph, entities)
    return graph.source()


def _er_entities(datastore: DataStore | None, domain: Domain | None) -> list[Entity]:
    entities = Entity.objects.select_related("datastore").prefetch_related(
        Prefetch(
            "columns",
            queryset=Column.objects.select_related("references__entity__datastore").order_by(
                "position", "id"
            ),
            to_attr="diagram_columns",
        )
    )
    if datastore is not None:
        entities = entities.filter(datastore=datastore)
    if domain is not None:
        entities = entities.filter(domain=domain)
    return list(entities.order_by("datastore__name", "name"))


def _referenced_outside(entities: list[Entity]) -> list[Entity]:
    """Entities outside the list that its foreign keys point at, each with only the columns pointed at."""
    inside = {entity.pk for entity in entities}
    outside: dict[int, Entity] = {}
    for entity in entities:
        for column in entity.diagram_columns:
            target = column.references
            if target is None or target.entity_id in inside:
                continue
            holder = outside.setdefault(target.entity_id, target.entity)
            if not hasattr(holder, "diagram_columns"):
                holder.diagram_columns = []
            if all(known.pk != target.pk for known in holder.diagram_columns):
                holder.diagram_columns.append(target)
    for holder in outside.values():
        holder.diagram_columns.sort(key=lambda column: (column.position, column.pk))
    return sorted(outside.values(), key=lambda entity: (entity.datastore.name, entity.name))


def _entity_node(entity: Entity) -> str:
    return f"{entity.datastore.name}.{entity.name}"


def _er_legend(domain: Domain | None) -> Html:
    if domain is None:
        return ER_LEGEND
    note = (
        f'<TR><TD ALIGN="LEFT"><FONT COLOR="{GREYED.text}">Grey: entities outside domain '
        f"{html_text(domain.name)} that its entities reference.</FONT></TD></TR>"
    )
    return Html(
        f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR><TD>{ER_LEGEND}</TD></TR>{note}</TABLE>'
    )


def _entity_label(entity: Entity, columns: list[Column], links: AdminLinks, colors: EntityColors) -> Html:
    """An entity as a table: its name (linked to its page), then one row per column: keys, name, type."""
    kind = (
        ""
        if entity.kind == EntityKind.TABLE
        else f'<BR/><FONT POINT-SIZE="8">{html_text(entity.kind)}</FONT>'
    )
    tooltip = entity.description or f"{entity.get_kind_display()} {entity.qualified_name}"
    header = (
        f'<TR><TD COLSPAN="3" BGCOLOR="{colors.header}"{link_attrs(links.entity(entity), tooltip)}>'
        f'<FONT COLOR="{colors.header_text}"><B>{html_text(entity.name)}</B>{kind}</FONT></TD></TR>'
    )
    rows = "".join(_column_row(column, links, colors) for column in columns)
    return Html(
        f'<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" COLOR="{colors.border}">'
        f"{header}{rows}</TABLE>"
    )


def _key_markers(column: Column) -> list[str]:
    markers = []
    if column.primary_key_position is not None:
        markers.append("PK")
    if column.references_id is not None:
        markers.append("FK")
    if column.is_unique:
        markers.append("UQ")
    return markers


def _column_row(column: Column, links: AdminLinks, colors: EntityColors) -> str:
    markers = " ".join(_key_markers(column))
    keys = f'<FONT COLOR="{colors.quiet}"><B>{markers}</B></FONT>' if markers else ""
    name = html_text(column.name)
    tooltip = column.description or column.name
    if column.is_pii:
        keys += f'{" " if keys else ""}<FONT COLOR="{PII_RED}"><B>PII</B></FONT>'
        name = f'<FONT COLOR="{PII_RED}"><I>{name}</I></FONT>'
        tooltip = f"{tooltip} (personal data: {column.get_pii_category_display()})"
    elif column.primary_key_position is not None:
        name = f'<FONT COLOR="{colors.text}"><U>{name}</U></FONT>'
    else:
        name = f'<FONT COLOR="{colors.text}">{name}</FONT>'
    null = "" if column.nullable else " not null"
    return (
        f'<TR><TD ALIGN="LEFT" PORT="{_port(column)}_in">{keys}</TD>'
        f'<TD ALIGN="LEFT"{link_attrs(links.column(column), tooltip)}>{name}</TD>'
        f'<TD ALIGN="LEFT" PORT="{_port(column)}_out"><FONT COLOR="{colors.quiet}">'
        f"{html_text(column.sql_type)}{html_text(null)}</FONT></TD></TR>"
    )


def _port(column: Column) -> str:
    return f"c{column.pk}"


def fk_cardinality(column: Column, primary_key_size: int) -> tuple[str, str]:
    """(the referencing end, the referenced end) of a foreign key: N or 1, then 1 or 0..1.

    A unique key column (UNIQUE, or the whole primary key) makes the relationship one-to-one, any other
    many-to-one; a nullable column makes the referenced row optional.
    """
    one_to_one = column.is_unique or (column.primary_key_position is not None and primary_key_size == 1)
    return ("1" if one_to_one else "N"), ("0..1" if column.nullable else "1")


# Crow's-foot ends, nearest the table first: crow = many, tee = one, odot = optional. The referencing
# end of a one-to-one key is "at most one": a referenced row need not be referenced.
REFERENCING_END = {"N": "crowodot", "1": "teeodot"}
REFERENCED_END = {"1": "teetee", "0..1": "teeodot"}


def _er_edges(graph: DotGraph, entities: list[Entity]) -> None:
    for entity in entities:
        primary_key_size = sum(1 for c in entity.diagram_columns if c.primary_key_position is not None)
        for column in entity.diagram_columns:
            target = column.references
            if target is None:
                continue
            near, far = fk_cardinality(column, primary_key_size)
            kind = "one-to-one" if near == "1" else "many-to-one"
            optional = ", optional" if far == "0..1" else ""
            graph.edge(
                (_entity_node(entity), f"{_port(column)}_out", "e"),
                (_entity_node(target.entity), f"{_port(target)}_in", "w"),
                id=f"fk-{column.pk}",
                taillabel=near,
                headlabel=far,
                arrowtail=REFERENCING_END[near],
                arrowhead=REFERENCED_END[far],
                tooltip=f"{column} → {target} ({kind}{optional})",
            )
