"""A data store's entities and foreign keys as the catalog describes them, read once per execution or
request: which rows refer to which, in what order they can be deleted, and what is held."""

from dataclasses import dataclass

from catalog.models import Column, DataStore, Entity, RetentionPolicy

__all__ = ["ForeignKey", "CatalogGraph"]


@dataclass(frozen=True)
class ForeignKey:
    """One catalog foreign key: `column` (in the child entity) points at `target` (in the parent)."""

    column: Column
    target: Column

    @property
    def child_id(self) -> int:
        return self.column.entity_id

    @property
    def parent_id(self) -> int:
        return self.target.entity_id

    @property
    def on_delete(self) -> str:
        return self.column.on_delete

    def __str__(self) -> str:
        return f"{self.column} → {self.target}"


class CatalogGraph:
    """The entities of one data store with their columns, foreign keys and retention policies."""

    def __init__(self, datastore: DataStore):
        self.datastore = datastore
        entities = (
            Entity.objects.filter(datastore=datastore)
            .select_related("datastore")
            .prefetch_related("columns", "retention_policies__anchor_column")
            .order_by("name")
        )
        self.entities: dict[int, Entity] = {entity.pk: entity for entity in entities}
        self.columns: dict[int, list[Column]] = {pk: list(e.columns.all()) for pk, e in self.entities.items()}
        by_id = {column.pk: column for columns in self.columns.values() for column in columns}
        for columns in self.columns.values():
            for column in columns:
                column.entity = self.entities[column.entity_id]
        self.foreign_keys = [
            ForeignKey(column=column, target=by_id[column.references_id])
            for column in by_id.values()
            if column.references_id in by_id
        ]

    def entity(self, entity_id: int) -> Entity:
        return self.entities[entity_id]

    def key_columns(self, entity_id: int) -> list[Column]:
        """The primary-key columns in key order (empty when the entity has none)."""
        keys = [c for c in self.columns[entity_id] if c.primary_key_position is not None]
        return sorted(keys, key=lambda c: c.primary_key_position)

    def children(self, entity_id: int) -> list[ForeignKey]:
        """Foreign keys pointing at this entity (a self-reference included)."""
        return [fk for fk in self.foreign_keys if fk.parent_id == entity_id]

    def parents(self, entity_id: int) -> list[ForeignKey]:
        """Foreign keys of this entity pointing elsewhere (or at itself)."""
        return [fk for fk in self.foreign_keys if fk.child_id == entity_id]

    def policies(self, entity_id: int) -> list[RetentionPolicy]:
        return list(self.entities[entity_id].retention_policies.all())

    def hold_reason(self, entity_id: int) -> str:
        """Why the entity's rows must stay untouched ('' when nothing holds them)."""
        entity = self.entities[entity_id]
        if entity.legal_hold:
            return f"entity {entity.name} is on legal hold"
        held = [p.name for p in self.policies(entity_id) if p.legal_hold]
        if held:
            return f"retention policy '{held[0]}' of {entity.name} is on legal hold"
        return ""

    def reachable_children(self, entity_id: int, *, follow=None) -> list[int]:
        """Entities whose rows can refer, directly or through other children, to rows of this one
        (optionally only along foreign keys `follow(fk)` accepts); the entity itself first."""
        seen, queue = [entity_id], [entity_id]
        while queue:
            current = queue.pop(0)
            for fk in self.children(current):
                if fk.child_id not in seen and (follow is None or follow(fk)):
                    seen.append(fk.child_id)
                    queue.append(fk.child_id)
        return seen

    def children_first(self, entity_ids) -> tuple[list[int], list[ForeignKey]]:
        """The entities ordered so each comes before the entities it references, and the foreign keys of
        cycles that no order can satisfy (self-references and loops), which need clearing first."""
        remaining = set(entity_ids)
        edges = [fk for fk in self.foreign_keys if fk.child_id in remaining and fk.parent_id in remaining]
        order, cycle_keys = [], [fk for fk in edges if fk.child_id == fk.parent_id]
        while remaining:
            # An entity can go next once no remaining entity (other than itself) still references it
            ready = sorted(
                pk
                for pk in remaining
                if not any(fk.parent_id == pk and fk.child_id in remaining - {pk} for fk in edges)
            )
            if not ready:
                # A loop: break it at the entity with the lowest id; the keys into it are cleared first
                pk = min(remaining)
                cycle_keys += [fk for fk in edges if fk.parent_id == pk and fk.child_id in remaining - {pk}]
                ready = [pk]
            order.extend(ready)
            remaining -= set(ready)
        return order, cycle_keys
