"""The form renderer (``FORM_RENDERER``): Django's, with the common widgets drawn in Python.

Django renders a ``<select>`` through one template include per option and per attribute list:
at 100,000 tickets the queue page's filter bar and bulk form (about twenty selects, a few
hundred options) took 40 % of its rendering time. The HTML written here is the same, byte for
byte, as Django's ``select.html``, ``select_option.html``, ``input.html`` (and the templates
that only include it), ``textarea.html``, ``label.html`` and ``attrs.html``
(``itsm/tests/test_form_renderer.py`` compares them); every other widget (radio lists, file
inputs with a current file, multi-widgets), and any select whose options use another template,
still goes through the templates. ``fields_html(form)`` writes a form's errors and fields as
``tickets/_fields.html`` (``{% form_fields form %}``) shows them on every page of forms.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils import formats, translation


def _escape(value: Any) -> str:
    """Django's ``conditional_escape``: a safe string as it is, anything else through
    ``html.escape`` (Django's entities), without the lazy-string wrapper around it, which cost
    more than the escaping (hundreds of calls for the ticket page's five forms)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"
LABEL = "django/forms/label.html"
TEXTAREA = "django/forms/widgets/textarea.html"
# The widgets whose template is only ``input.html``.
INPUTS = {
    f"django/forms/widgets/{name}.html"
    for name in [
        "input",
        "checkbox",
        "color",
        "date",
        "datetime",
        "email",
        "file",
        "hidden",
        "number",
        "password",
        "search",
        "tel",
        "text",
        "time",
        "url",
    ]
}


def attributes(attrs: Mapping[str, Any]) -> str:
    """As ``attrs.html``: ``True`` writes the bare name, ``False`` nothing (``None`` is written)."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {_escape(name)}")
        else:
            parts.append(f' {_escape(name)}="{_escape(str(value))}"')
    return "".join(parts)


def select(widget: Mapping[str, Any]) -> str | None:
    """A select box, or None when an option uses a template of its own."""
    html = [f'<select name="{_escape(widget["name"])}"{attributes(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            html.append(f'\n  <optgroup label="{_escape(group_name)}">')
        for option in group_choices:
            if option["template_name"] != OPTION:
                return None
            html.append(
                f'\n  <option value="{_escape(str(option["value"]))}"'
                f"{attributes(option['attrs'])}>{_escape(option['label'])}</option>\n"  # the option template's newline
            )
        if group_name:
            html.append("\n  </optgroup>")
    html.append("\n</select>")
    return "".join(html)


def text_input(widget: Mapping[str, Any]) -> str:
    value = widget["value"]
    shown = "" if value is None else f' value="{_escape(str(value))}"'
    return (
        f'<input type="{_escape(widget["type"])}" name="{_escape(widget["name"])}"'
        f"{shown}{attributes(widget['attrs'])}>"
    )


def textarea(widget: Mapping[str, Any]) -> str:
    value = widget["value"]
    shown = _escape(formats.localize(value)) if value else ""
    return f'<textarea name="{_escape(widget["name"])}"{attributes(widget["attrs"])}>\n{shown}</textarea>'


def label(context: Mapping[str, Any]) -> str:
    if not context.get("use_tag"):
        return str(_escape(context["label"]))
    tag = context["tag"]
    return f"<{tag}{attributes(context.get('attrs') or {})}>{_escape(context['label'])}</{tag}>"


class FormRenderer(DjangoTemplates):
    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name == SELECT:
            html = select(context["widget"])
            if html is not None:
                return html
        elif template_name in INPUTS:
            return text_input(context["widget"])
        elif template_name == TEXTAREA:
            return textarea(context["widget"])
        elif template_name == LABEL:
            return label(context)
        return super().render(template_name, context, request)


# The fields of forms that declare ``static_fields_html = True``: unbound and without initial
# values, their HTML depends on nothing but the language (the ticket page's reply box and work
# log form), so it is written once per process, language and prefix.
_static_html: dict[tuple[Any, ...], str] = {}


def fields_html(form: Any) -> str:
    """A form's errors and fields as ``tickets/_fields.html`` wrote them through the template
    engine (the same HTML, ``itsm/tests/test_form_renderer.py`` compares them): five forms on
    the ticket page, whose loops and lookups cost more than the fields themselves."""
    if not getattr(form, "static_fields_html", False) or form.is_bound or form.initial:
        return _fields_html(form)
    key = (type(form), translation.get_language(), form.prefix, form.auto_id, form.label_suffix)
    written = _static_html.get(key)
    if written is None:
        written = _static_html[key] = _fields_html(form)
    return written


def _fields_html(form: Any) -> str:
    html = []
    errors = form.non_field_errors()
    if errors:
        items = "".join(f"<li>{_escape(error)}</li>" for error in errors)
        html.append(f'<ul class="errorlist nonfield" role="alert">{items}</ul>')
    html.append("\n")
    html.extend(str(field) for field in form.hidden_fields())
    html.append("\n")
    for field in form.visible_fields():
        checkbox = field.widget_type == "checkbox"
        field_errors = field.errors
        classes = f"field{' has-errors' if field_errors else ''}{' field-checkbox' if checkbox else ''}"
        if checkbox:
            control = f"{field} {field.label_tag()}"
        else:
            required = '<span class="required" aria-hidden="true">*</span>' if field.field.required else ""
            control = f"{field.label_tag()}{required}{field}"
        help_text = field.help_text
        helptext = f'<small class="helptext">{_escape(help_text)}</small>' if help_text else ""
        listed = "".join(f"<li>{_escape(error)}</li>" for error in field_errors)
        errorlist = f'<ul class="errorlist" role="alert">{listed}</ul>' if field_errors else ""
        html.append(f'\n<div class="{classes}">\n  {control}\n  {helptext}\n  {errorlist}\n</div>\n')
    html.append("\n")
    return "".join(html)
