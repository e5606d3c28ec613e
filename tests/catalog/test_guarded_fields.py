"""Compliance fields refuse a change by anyone without the compliance permission, whatever the path."""

from catalog.guarded_fields import guarded_changes_refused
from catalog.models import Entity
from catalog.services import catalog_object_save


def test_a_steward_may_not_release_a_legal_hold_but_a_compliance_officer_may(customer, steward, officer):
    customer.legal_hold = True
    catalog_object_save(obj=customer, user=officer)
    customer.legal_hold = False
    assert guarded_changes_refused(obj=customer, user=steward) == {
        "legal_hold": "Only a compliance officer may change the legal hold of entity 'customer'."
    }
    assert guarded_changes_refused(obj=customer, user=officer) == {}


def test_a_steward_may_change_other_fields_and_classify_new_objects(customer, steward):
    customer.description = "Changed by the steward"
    assert guarded_changes_refused(obj=customer, user=steward) == {}
    new = Entity(datastore=customer.datastore, name="orders", legal_hold=True, sensitivity="restricted")
    assert guarded_changes_refused(obj=new, user=steward) == {}


def test_a_steward_may_not_unclassify_a_personal_data_column(customer, steward):
    email = customer.columns.get(name="email")
    email.pii_category, email.masking_strategy = "none", "none"
    assert set(guarded_changes_refused(obj=email, user=steward)) == {"pii_category", "masking_strategy"}
