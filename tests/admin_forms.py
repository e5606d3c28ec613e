"""Build the POST data an admin change page would send, from the page the test client received."""

from html.parser import HTMLParser

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
        elif isinstance(bound_field.field, forms.JSONField):
            pass  # value() has prepared it already; preparing JSON twice would quote it as a string
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


class _BrowserForm(HTMLParser):
    """Collects what a browser would submit from the first <form> whose id ends in "_form"."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.done = False
        self.select: dict | None = None
        self.option: dict | None = None
        self.textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done and (attrs.get("id") or "").endswith("_form"):
            self.in_form = True
        if not self.in_form:
            return
        name = attrs.get("name")
        disabled = "disabled" in attrs
        if tag == "input" and name and not disabled:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields.append((name, attrs.get("value") or "on"))
                return
            self.fields.append((name, attrs.get("value") or ""))
        elif tag == "select" and name and not disabled:
            self.select = {"name": name, "multiple": "multiple" in attrs, "options": []}
        elif tag == "option" and self.select is not None:
            self.option = {"value": attrs.get("value"), "selected": "selected" in attrs, "text": ""}
            self.select["options"].append(self.option)
        elif tag == "textarea" and name and not disabled:
            self.textarea = {"name": name, "text": ""}

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea["text"] += data
        elif self.option is not None:
            self.option["text"] += data

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "form":
            self.in_form, self.done = False, True
        elif tag == "option":
            self.option = None
        elif tag == "select" and self.select is not None:
            options = self.select["options"]
            chosen = [o for o in options if o["selected"]]
            if not chosen and options and not self.select["multiple"]:
                chosen = options[:1]
            for option in chosen:
                value = option["value"] if option["value"] is not None else option["text"].strip()
                self.fields.append((self.select["name"], value))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            text = self.textarea["text"]
            self.fields.append((self.textarea["name"], text[1:] if text.startswith("\n") else text))
            self.textarea = None


def browser_form_data(response) -> dict:
    """What a browser sends when the admin change page in `response` is saved untouched: only the inputs
    the page really renders (hidden ones included), read from its HTML. Unlike change_form_data, a field the
    form has but the page leaves out is left out here too."""
    parser = _BrowserForm()
    parser.feed(response.content.decode())
    assert parser.done, "the page has no admin change form"
    data: dict = {}
    for name, value in parser.fields:
        if name in data:
            data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
        else:
            data[name] = value
    data.pop("csrfmiddlewaretoken", None)
    return data
