"""Python source shared by the Python targets (SQLAlchemy and Django models): string and value literals,
comments, docstrings, calls that wrap, the import order, the module being written, and surrogate keys."""

import textwrap
from dataclasses import dataclass, field

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.codegen.base import CodeColumn, CodegenError, CodeModel
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile

__all__ = [
    "SURROGATE_KEY",
    "PythonModule",
    "surrogate_entities",
    "default_function_sql",
    "python_string",
    "python_literal",
    "import_order",
    "comment_lines",
    "docstring_lines",
    "call_source",
]

SURROGATE_KEY = "generated_id"


@dataclass
class PythonModule:
    """What a Python file needs while it is written: the model, the dialect's rules and the imports used."""

    model: CodeModel
    profile: DialectProfile
    surrogates: set[str]  # entities that get a SURROGATE_KEY
    modules: set[str] = field(default_factory=set)  # import x
    imports: dict[str, set[str]] = field(default_factory=dict)  # from x import y

    def use(self, module: str, *names: str) -> None:
        self.imports.setdefault(module, set()).update(names)

    @property
    def schema(self) -> str:
        return self.model.schema if self.model.schema and self.profile.supports_schemas else ""


def surrogate_entities(model: CodeModel, options: dict, *, need: str) -> set[str]:
    """The entities without a primary key, which get a SURROGATE_KEY when `generate_keys` asks; CodegenError
    (saying why the target `need`s a key) when it does not."""
    surrogates = set()
    for entity in model.entities:
        if not entity.primary_key:
            if not options.get("generate_keys"):
                raise CodegenError(
                    f"Entity '{entity.name}' of data store '{model.datastore}' has no primary key, {need}; "
                    "give it one in the catalog, or generate with generate_keys to add a surrogate key "
                    f"'{SURROGATE_KEY}'."
                )
            surrogates.add(entity.name)
    return surrogates


def default_function_sql(module: PythonModule, column: CodeColumn) -> tuple[str, str | None, str | None]:
    """(the catalog default's text, the dialect's SQL when it is a function, a note when the dialect has no
    such function: then no default is set)."""
    text = column.default_value.strip()
    if not text or not column.default_is_function:
        return text, None, None
    sql = module.profile.default_functions.get(text.lower())
    if sql is None:
        return (
            text,
            None,
            f"{module.profile.label} has no equivalent of the catalog default {text}; none is set.",
        )
    return text, sql, None


def python_string(text: str) -> str:
    """A Python string literal of `text`, in double quotes when that needs no escapes."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = f'"{literal[1:-1]}"'
    return literal


def python_literal(column: CodeColumn, text: str) -> tuple[str, set[str]]:
    """The Python source of a catalog literal of the column's type, and the modules that source needs."""
    value = parse_literal(column.data_type, text)
    family = TYPE_FAMILIES[DataType(column.data_type)]
    if family == "numeric":
        return f"decimal.Decimal({python_string(str(value))})", {"decimal"}
    if family == "uuid":
        return f"uuid.UUID({python_string(str(value))})", {"uuid"}
    if family in ("date", "time", "timestamp"):
        return repr(value), {"datetime"}  # datetime.date(1900, 1, 1)
    if isinstance(value, str):
        return python_string(value), set()
    return repr(value), set()


def import_order(name: str) -> tuple[int, str]:
    """isort's order within `from x import ...`: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2, name)


def comment_lines(text: str, indent: str, width: int = 110) -> list[str]:
    """`text` as # comment lines within `width` (a catalog text may hold line breaks: each gets its own #)."""
    lines = []
    for line in str(text).splitlines() or [""]:
        line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line)
        wrapped = textwrap.wrap(line, width - len(indent) - 2, break_long_words=False, break_on_hyphens=False)
        lines += [f"{indent}# {part}".rstrip() for part in wrapped or [""]]
    return lines


def docstring_lines(text: str, indent: str) -> list[str]:
    """A docstring of `text`: backslashes and quotes that would end it escaped, so any description stays one
    string."""
    if any(not ch.isprintable() and ch not in "\n\t" for ch in text):
        return [f"{indent}{python_string(text)}"]  # a NUL or control character cannot stand in a docstring
    escaped = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if escaped.endswith('"'):
        escaped = escaped[:-1] + '\\"'
    lines = escaped.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *[f"{indent}{line}".rstrip() for line in lines[1:]], f'{indent}"""']


def call_source(callee: str, args: list[str], indent: str = "", lead: str = "", width: int = 110) -> str:
    """`<indent><lead>callee(a, b)` on one line when it fits in `width`, else one argument per line."""
    one_line = f"{indent}{lead}{callee}({', '.join(args)})"
    if len(one_line) <= width or not args:
        return one_line
    inner = indent + "    "
    return f"{indent}{lead}{callee}(\n" + "".join(f"{inner}{arg},\n" for arg in args) + f"{indent})"
