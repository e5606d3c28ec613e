"""Build the POST data an admin change page would send, from the page the test client received."""

from django import forms


def _form_data(form, data: dict) -> None:
    for bound_field in form:
        widget = bound_field.field.widget
        value = bound_field.value()
        if isinstance(widget, forms.CheckboxInput):
            if value:
                data[bound_field.html_name] = "on"
            continue
        if value is None:
            value = ""
        elif isinstance(widget, forms.SelectMultiple):
            value = [str(v) for v in value]
        else:
            value = bound_field.field.prepare_value(value)
        data[bound_field.html_name] = value


def change_form_data(response) -> dict:
    """Every field of the main form and the inline formsets, with management forms, as currently shown."""
    data: dict = {}
    _form_data(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        _form_data(inline.formset.management_form, data)
        for form in inline.formset.forms:
            _form_data(form, data)
    return data
