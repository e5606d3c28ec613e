"""The one relation-naming planner: the same rules in every target, spelled in each language's case."""

import copy

import pytest

from catalog.codegen import django_models, efcore, jpa, sqlalchemy_models, typeorm
from catalog.codegen.base import code_model_build
from catalog.codegen.planner import relation_stem


@pytest.mark.parametrize(
    ("column", "stem"),
    [
        ("customer_id", "customer"),
        ("customer_key", "customer"),
        ("customerId", "customer"),
        ("customerKey", "customer"),
        ("CUSTOMER_ID", "CUSTOMER"),
        ("Customer_Id", "Customer"),
        ("shipping_address_id", "shipping_address"),
        ("id", ""),
        ("key", ""),
        ("_id", ""),
        ("customer", ""),
        ("paid", ""),
        ("valid", ""),
        ("monkey", ""),
        ("customerid", ""),
    ],
)
def test_a_reference_is_named_after_its_column_without_a_trailing_id_or_key_word(column, stem):
    assert relation_stem(column) == stem


def _with_key_columns(snapshot: dict) -> dict:
    """The demo with orders.customer_id renamed customer_key."""
    snapshot = copy.deepcopy(snapshot)
    orders = next(e for e in snapshot["entities"].values() if e["name"] == "orders")
    column = next(c for c in orders["columns"].values() if c["name"] == "customer_id")
    column["name"] = "customer_key"
    return snapshot


def test_every_class_target_names_a_key_suffixed_reference_alike(demo_snapshot):
    model = code_model_build(_with_key_columns(demo_snapshot))
    sources = {
        "efcore": "\n".join(f.content for f in efcore.generate(copy.deepcopy(model), {})),
        "jpa": "\n".join(f.content for f in jpa.generate(copy.deepcopy(model), {})),
        "typeorm": "\n".join(f.content for f in typeorm.generate(copy.deepcopy(model), {})),
    }
    # EF Core used to strip only _id and named this navigation after the target class (Customers).
    assert "public virtual Customers Customer { get; set; } = null!;" in sources["efcore"]
    assert "private Customers customer;" in sources["jpa"]
    assert "customer!: Relation<Customers>;" in sources["typeorm"]
    # The inverse collections are the same in all three: named after the dependent class.
    assert "public virtual ICollection<Orders> Orders { get; set; }" in sources["efcore"]
    assert "private List<Orders> orders = new ArrayList<>();" in sources["jpa"]
    assert "orders!: Orders[];" in sources["typeorm"]


def test_the_python_targets_strip_the_same_suffix_words(demo_snapshot):
    model = code_model_build(_with_key_columns(demo_snapshot))
    (django,) = django_models.generate(copy.deepcopy(model), {})
    (sqlalchemy,) = sqlalchemy_models.generate(copy.deepcopy(model), {})
    # Django used to strip only _id: the field was customer_key, its attribute customer_key_id.
    assert "    customer = models.ForeignKey(" in django.content
    assert 'db_column="customer_key"' in django.content
    assert "    customer: Mapped[Customers] = relationship(" in sqlalchemy.content
