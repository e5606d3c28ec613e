"""Generating code for a data store: pick the target's module, build the model, return files or a ZIP."""

import importlib
import io
import zipfile

from catalog.codegen.base import CodegenError, GeneratedFile, code_model_build
from catalog.models import DataStore
from catalog.schema.model import schema_model_from_catalog

__all__ = ["TARGETS", "codegen_generate", "codegen_zip"]

# target -> (module, label, language for highlighting)
TARGETS = {
    "sqlalchemy": ("catalog.codegen.sqlalchemy_models", "SQLAlchemy 2.0", "python"),
    "django": ("catalog.codegen.django_models", "Django models", "python"),
    "jpa": ("catalog.codegen.jpa", "JPA / Hibernate (Java)", "java"),
    "efcore": ("catalog.codegen.efcore", "Entity Framework Core (C#)", "csharp"),
    "typeorm": ("catalog.codegen.typeorm", "TypeORM (TypeScript)", "typescript"),
    "mongodb": ("catalog.codegen.mongodb", "MongoDB $jsonSchema validators", "json"),
}


def codegen_generate(
    *,
    datastore: DataStore,
    target: str,
    entity_names: list[str] | None = None,
    domain: str | None = None,
    options: dict | None = None,
) -> list[GeneratedFile]:
    """The files of `target` for the data store (or some entities, or one domain's); CodegenError if it
    cannot be done."""
    if target not in TARGETS:
        raise CodegenError(f"'{target}' is not a code target; choose one of {', '.join(TARGETS)}.")
    if domain:
        entity_names = list(datastore.entities.filter(domain__name=domain).values_list("name", flat=True))
        if not entity_names:
            raise CodegenError(f"Data store '{datastore.name}' has no entity in domain '{domain}'.")
    schema = schema_model_from_catalog(datastore)
    entity_ids = None
    if entity_names:
        by_name = {table.name: table.id for table in schema.tables}
        unknown = [name for name in entity_names if name not in by_name]
        if unknown:
            raise CodegenError(
                f"Data store '{datastore.name}' has no entity {', '.join(map(repr, unknown))}."
            )
        entity_ids = {by_name[name] for name in entity_names}
    module = importlib.import_module(TARGETS[target][0])
    return module.generate(code_model_build(schema, entity_ids), options or {})


def codegen_zip(files: list[GeneratedFile]) -> bytes:
    """The files as a ZIP with fixed timestamps: the same files give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for generated in sorted(files, key=lambda f: f.path):
            info = zipfile.ZipInfo(generated.path, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, generated.content)
    return buffer.getvalue()
