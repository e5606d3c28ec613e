"""One naming planner for the class-based targets, driven by a `LanguageDescriptor` per language.

Every target decides the same things before it writes a line: a class per entity, a member per column (audit
columns and a generated key included), and for each foreign key a reference member on the dependent class and
an inverse member (a collection, or one object for a one-to-one) on the principal. The rules are one:

- a reference is named after its foreign-key column without a trailing `id` or `key` word (`customer_id`,
  `customerId`, `CUSTOMER_KEY` -> customer), else after the target class;
- an inverse is named after the dependent class, `inverse<Reference>` for a self-reference and
  `<dependent><Reference>` when one entity points at the same target more than once;
- a name already taken gets the language's collision suffix (`<column member>Navigation` for a reference in
  C#, `<name>Relation` in Java and TypeScript); a name still taken is a CodegenError naming both.

What differs per language (keywords, case, reserved type names, the suffix words, what cannot be related) is
data in the descriptor. The Python targets keep Python's own inverse convention (`reverse_names`), with the
same suffix rule (`relation_stem`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.codegen.base import (
    CodeColumn,
    CodeEntity,
    CodeForeignKey,
    CodegenError,
    CodeModel,
    audit_columns,
    camel_case,
    names_unique,
    pascal_case,
    snake_case,
    surrogate_key,
    words,
)
from catalog.codegen.ddl import ddl_checks, profile_of
from catalog.schema.dialects import DialectProfile

__all__ = [
    "RELATION_SUFFIXES",
    "LanguageDescriptor",
    "Relation",
    "EntityPlan",
    "ModelPlan",
    "relation_stem",
    "capitalized",
    "entities_plan",
    "reverse_names",
]

# The last word of a foreign-key column that names the key rather than the thing referenced.
RELATION_SUFFIXES = ("id", "key")


def relation_stem(column: str, suffixes: tuple[str, ...] = RELATION_SUFFIXES) -> str:
    """customer_id, customerId, CUSTOMER_KEY -> customer (words joined by _); "" when nothing is left to
    strip: the name has no such suffix word, or is only that word."""
    parts = words(column)
    if len(parts) > 1 and parts[-1].lower() in suffixes:
        return "_".join(parts[:-1])
    return ""


def capitalized(name: str) -> str:
    """parent -> Parent, class_ -> Class: the member as the second half of a compound name."""
    name = name.rstrip("_")
    return name[:1].upper() + name[1:]


@dataclass(frozen=True)
class LanguageDescriptor:
    """What one target language needs the planner to know: its types, its cases and reserved words (inside
    `class_name` / `member_name`), and the words its messages use."""

    target: str  # "JPA": who refuses a type ("which has no JPA equivalent here")
    types: Mapping[str, Any]  # catalog type -> the language's type; a type not in it is refused
    class_name: Callable[[str], str]  # entity name -> class (case, a suffix for a reserved type name)
    member_name: Callable[[str], str]  # a name -> member (case, keyword escaped)
    member_case: str  # "camel" or "pascal": how compound names are joined
    member_word: str  # "field", "property": what a member is called in a message
    relation_word: str  # "relationship", "relation", "navigation"
    collision_suffix: str  # "Relation", "Navigation"
    key_need: str  # why the target needs a primary key ("JPA needs an @Id to identify its rows")
    key_label: str  # how a note names a generated key member ("the id field")
    # (column name, class) -> member, where a member may not take the class's name (C#); else member_name
    column_member: Callable[[str, str], str] | None = None
    # A reason the target cannot relate this foreign key (the column stays a plain member), or None
    relation_refusal: Callable[[CodeForeignKey], str | None] = lambda fk: None
    # Called once per entity after its members are named, before relations: a target reserves names here
    entity_planned: Callable[["EntityPlan"], None] = lambda plan: None
    suffixes: tuple[str, ...] = RELATION_SUFFIXES

    def column_member_name(self, column: str, class_name: str) -> str:
        return self.column_member(column, class_name) if self.column_member else self.member_name(column)

    def compound(self, first: str, second: str) -> str:
        """inverse + parent -> inverseParent (camel) or InverseParent (pascal)."""
        return f"{first.rstrip('_')}{capitalized(second)}"

    @property
    def inverse_word(self) -> str:
        return "inverse" if self.member_case == "camel" else "Inverse"

    def bare_member(self, name: str) -> str:
        """The member case of a class name without keyword escaping (the head of a compound name)."""
        return camel_case(name) if self.member_case == "camel" else pascal_case(name)


@dataclass(eq=False)
class Relation:
    """A foreign key with its two member names, decided once for both sides."""

    fk: CodeForeignKey
    name: str = ""  # member on the dependent class
    inverse: str = ""  # member on the principal class
    maps_id: str | None = None  # JPA: the @MapsId value of a key column that is also the reference
    read_only: bool = False  # a key column the id writes: the relationship only reads it

    @property
    def is_one_to_one(self) -> bool:
        return self.fk.is_one_to_one


@dataclass(eq=False)
class EntityPlan:
    """One entity's class, columns and member names; targets subclass it for what only they need."""

    entity: CodeEntity
    class_name: str
    columns: list[CodeColumn]  # the catalog's, then audit columns, then a generated key
    key: list[CodeColumn] = field(default_factory=list)
    audit: list[CodeColumn] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)  # column name -> member
    reserved: set[str] = field(default_factory=set)  # member names taken by something not a column
    references: list[Relation] = field(default_factory=list)
    inverses: list[Relation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_key: CodeColumn | None = None

    def is_key(self, column: CodeColumn) -> bool:
        return any(column is key for key in self.key)

    def is_audit(self, column: CodeColumn) -> bool:
        return any(column is audit for audit in self.audit)

    def reference(self, column: CodeColumn) -> Relation | None:
        return next((r for r in self.references if r.fk.column is column), None)


@dataclass(eq=False)
class ModelPlan:
    """A model planned for one target: the store's dialect, every entity's plan, and the check constraints
    and dialect notes of Custodian's DDL; targets subclass it for their own settings."""

    model: CodeModel
    profile: DialectProfile
    entities: list[EntityPlan]
    checks: dict  # (entity, column) -> [(constraint name, SQL)], as the DDL creates them
    dialect_notes: dict  # entity -> [what the dialect cannot say]

    @classmethod
    def build(
        cls, model: CodeModel, language: LanguageDescriptor, *, generate_keys: bool, plan_class=None, **extra
    ):
        """The plan of `model` in `language`; `extra` fills the subclass's own fields."""
        profile = profile_of(model)
        entities = entities_plan(
            model, language, generate_keys=generate_keys, plan_class=plan_class or EntityPlan
        )
        checks, notes = ddl_checks(model, profile)
        return cls(model, profile, entities, checks, notes, **extra)

    def of(self, entity: CodeEntity) -> EntityPlan:
        return next(p for p in self.entities if p.entity is entity)

    @property
    def has_pii(self) -> bool:
        return any(c.is_pii for plan in self.entities for c in plan.columns)


def entities_plan(
    model: CodeModel, language: LanguageDescriptor, *, generate_keys: bool, plan_class: type = EntityPlan
) -> list[EntityPlan]:
    """Every entity's plan with its names and relations both ways; CodegenError for a type the language has
    no equivalent of, two names that become one, or a name no rule can make free."""
    classes = names_unique(
        [e.name for e in model.entities], language.class_name, f"Data store '{model.datastore}'"
    )
    plans = [_entity_plan(plan_class, e, classes[e.name], language, generate_keys) for e in model.entities]
    _relations(plans, language)
    return plans


def _entity_plan(
    plan_class: type, entity: CodeEntity, class_name: str, language: LanguageDescriptor, generate_keys: bool
) -> EntityPlan:
    for column in entity.columns:
        if column.data_type not in language.types:
            raise CodegenError(
                f"Column '{entity.name}.{column.name}' has type '{column.data_type}', which has no "
                f"{language.target} equivalent here; change its type in the catalog or leave the entity out."
            )
    audit = audit_columns(entity)
    plan = plan_class(entity, class_name, [*entity.columns, *audit], key=entity.primary_key, audit=audit)
    if not plan.key:
        plan.generated_key, note = surrogate_key(
            entity,
            plan.columns,
            generate_keys=generate_keys,
            need=language.key_need,
            label=language.key_label,
        )
        plan.columns.append(plan.generated_key)
        plan.key = [plan.generated_key]
        plan.notes.append(note)
    plan.members = names_unique(
        [c.name for c in plan.columns],
        lambda name: language.column_member_name(name, class_name),
        f"Entity '{entity.name}'",
    )
    language.entity_planned(plan)
    return plan


def _relations(plans: list[EntityPlan], language: LanguageDescriptor) -> None:
    by_entity = {id(p.entity): p for p in plans}
    for plan in plans:
        related = {fk.column.name for fk in plan.entity.foreign_keys}
        for column in plan.entity.columns:
            if column.references_id and column.name not in related:
                plan.notes.append(
                    f"{plan.entity.name}.{column.name} references an entity that is not generated here; it "
                    f"stays a plain {language.member_word} (generate both entities for the "
                    f"{language.relation_word})."
                )
        for fk in plan.entity.foreign_keys:
            refusal = language.relation_refusal(fk)
            if refusal:
                plan.notes.append(refusal)
            else:
                plan.references.append(Relation(fk))
    for plan in plans:
        taken = {*plan.reserved, *plan.members.values()}
        for relation in plan.references:
            candidate = _reference_candidate(relation.fk, by_entity, language)
            # The column's member is unique in the class, so "<member><suffix>" is the fallback.
            fallback = f"{plan.members[relation.fk.column.name].rstrip('_')}{language.collision_suffix}"
            relation.name = _free_name([candidate, fallback], taken, plan.entity.name, language)
            by_entity[id(relation.fk.target_entity)].inverses.append(relation)
    for plan in plans:
        taken = {*plan.reserved, *plan.members.values(), *(r.name for r in plan.references)}
        for relation in plan.inverses:
            candidate = _inverse_candidate(relation, plan.inverses, by_entity, language)
            fallback = f"{candidate.rstrip('_')}{language.collision_suffix}"
            relation.inverse = _free_name([candidate, fallback], taken, plan.entity.name, language)


def _reference_candidate(fk: CodeForeignKey, by_entity: dict, language: LanguageDescriptor) -> str:
    stem = relation_stem(fk.column.name, language.suffixes)
    return language.member_name(stem or by_entity[id(fk.target_entity)].class_name)


def _inverse_candidate(
    relation: Relation, inverses: list[Relation], by_entity: dict, language: LanguageDescriptor
) -> str:
    fk = relation.fk
    dependent = language.bare_member(by_entity[id(fk.entity)].class_name)
    if fk.entity is fk.target_entity:
        return language.compound(language.inverse_word, relation.name)
    if sum(1 for other in inverses if other.fk.entity is fk.entity) > 1:
        return language.compound(dependent, relation.name)
    return language.member_name(dependent)


def _free_name(candidates: list[str], taken: set[str], entity: str, language: LanguageDescriptor) -> str:
    for name in candidates:
        if name not in taken:
            taken.add(name)
            return name
    raise CodegenError(
        f"Entity '{entity}': the {language.member_word} '{candidates[0]}' collides with another member, even "
        f"as '{candidates[-1]}'; rename one of the columns."
    )


def reverse_names(model: CodeModel, forward: dict, taken: dict[str, set[str]], escape) -> dict:
    """The Python targets' inverse attribute of each foreign key, keyed like `forward` ((entity, column) ->
    forward name): the source table's name, or `<source>_by_<forward>` when the source points at the target
    more than once, at itself, or the name is taken; `taken` (entity -> attribute names) grows with each
    name given."""
    names = {}
    for entity in model.entities:
        for fk in entity.foreign_keys:
            key = (entity.name, fk.column.name)
            target = fk.target_entity.name
            base = escape(snake_case(entity.name))
            parallel = sum(1 for other in entity.foreign_keys if other.target_entity is fk.target_entity)
            name = base
            if fk.target_entity is entity or parallel > 1 or base in taken[target]:
                name = escape(f"{snake_case(entity.name)}_by_{forward[key]}")
            if name in taken[target]:
                raise CodegenError(
                    f"Entity '{target}': the rows of '{entity.name}' pointing at it through "
                    f"'{fk.column.name}' would be reached as '{name}', which is already an attribute; "
                    "rename one of the columns."
                )
            taken[target].add(name)
            names[key] = name
    return names
