"""The form renderer writes select boxes and labels exactly as Django's templates do."""

from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils import translation

from itsm.form_renderer import FormRenderer
from itsm.models import Organisation, Team
from tickets.models import Ticket


class Everything(forms.Form):
    plain = forms.ChoiceField(choices=[("a", "A & <b>"), ("b", 'B "quoted"')], initial="b")
    many = forms.MultipleChoiceField(
        choices=[("x", "X"), ("y", "Y"), ("z", "Z")],
        initial=["x", "z"],
        widget=forms.SelectMultiple(attrs={"size": 3, "data-flag": True, "data-off": False}),
    )
    grouped = forms.ChoiceField(
        choices=[("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("veg", "Vegetable"), ("", "None")],
        required=False,
    )
    numbers = forms.TypedChoiceField(choices=[(1, 1), (2, 2)], coerce=int, initial=2, label="Count <n>")
    maybe = forms.NullBooleanField()
    empty = forms.ChoiceField(choices=[], required=False, disabled=True)
    title = forms.CharField(max_length=20, initial='Say "hi" & <bye>', help_text="Short & <plain>")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), initial="line 1\n<line 2>")
    blank = forms.CharField(widget=forms.Textarea, required=False)
    email = forms.EmailField(required=False)
    count = forms.IntegerField(min_value=0, initial=1500)
    ratio = forms.DecimalField(initial="1.50", required=False)
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True), initial="x<y")
    hidden = forms.CharField(widget=forms.HiddenInput, initial="h")
    agree = forms.BooleanField(required=False, initial=True)
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
    when = forms.DateTimeField(required=False)
    link = forms.URLField(
        required=False, assume_scheme="https", widget=forms.URLInput(attrs={"placeholder": "https://…"})
    )
    upload = forms.FileField(required=False, widget=forms.FileInput)


@pytest.fixture
def forms_rendered_both_ways():
    def render(form_class: type[forms.Form], data: dict | None = None, **kwargs) -> list[tuple[str, str]]:
        pairs = []
        for name in form_class.base_fields:
            ours = form_class(data, renderer=FormRenderer(), **kwargs)[name]
            django = form_class(data, renderer=DjangoTemplates(), **kwargs)[name]
            pairs.append((str(ours) + ours.label_tag(), str(django) + django.label_tag()))
            pairs.append((ours.legend_tag(), django.legend_tag()))
        return pairs

    return render


def test_it_is_the_renderer_of_every_form():
    assert isinstance(get_default_renderer(), FormRenderer)


def test_select_boxes_and_labels_are_the_same_html_as_django_writes(forms_rendered_both_ways):
    for ours, django in forms_rendered_both_ways(Everything):
        assert ours == django
    bound = {
        "plain": "a",
        "many": ["y"],
        "grouped": "pear",
        "numbers": "1",
        "maybe": "true",
        "title": "x" * 30,  # invalid: too long, shown back as typed
        "body": "",
        "count": "-1",
        "ratio": "2,5",
        "agree": "on",
        "day": "2026-12-06",
        "when": "not a date",
    }
    for ours, django in forms_rendered_both_ways(Everything, bound):
        assert ours == django
    with translation.override("fr"):
        for ours, django in forms_rendered_both_ways(Everything):
            assert ours == django
    html = str(Everything(renderer=FormRenderer())["plain"])
    assert '<option value="a">A &amp; &lt;b&gt;</option>' in html  # escaped, not trusted
    assert '<option value="b" selected>B &quot;quoted&quot;</option>' in html
    form = Everything(renderer=FormRenderer())
    assert 'value="Say &quot;hi&quot; &amp; &lt;bye&gt;"' in str(form["title"])
    assert str(form["body"]).endswith(">\nline 1\n&lt;line 2&gt;</textarea>")


@pytest.mark.django_db
def test_model_choice_fields_are_the_same_html_and_read_once(
    forms_rendered_both_ways, django_assert_num_queries
):
    Team.objects.create(name="Network <core>")
    Team.objects.create(name="Service desk")

    class Teams(forms.Form):
        team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"))

    for ours, django in forms_rendered_both_ways(Teams):
        assert ours == django


def test_a_select_whose_options_use_their_own_template_still_goes_through_the_templates():
    class Custom(forms.Select):
        option_template_name = "django/forms/widgets/radio_option.html"

    class Form(forms.Form):
        pick = forms.ChoiceField(choices=[("a", "A")], widget=Custom)

    ours = str(Form(renderer=FormRenderer())["pick"])
    assert ours == str(Form(renderer=DjangoTemplates())["pick"])


@pytest.mark.django_db
def test_choice_labels_are_read_from_a_map_and_translated_at_render_time():
    ticket = Ticket(status="pending_customer", priority="critical")
    organisation = Organisation(name="Big", tier="enterprise")
    assert ticket.get_status_display() == "Pending customer"
    assert organisation.get_tier_display() == "Enterprise"
    with translation.override("fr"):
        assert ticket.get_status_display() == "En attente du client"
        assert ticket.get_priority_display() == "Critique"
    ticket.status = "not-a-status"
    assert ticket.get_status_display() == "not-a-status"


# The template ``tickets/_fields.html`` was, before its loops were written in Python
# (``itsm/form_renderer.py: fields_html``): the reference the Python must match, byte for byte.
FIELDS_TEMPLATE = (
    '{% load i18n %}{% if form.non_field_errors %}<ul class="errorlist nonfield" role="alert">'
    "{% for error in form.non_field_errors %}<li>{{ error }}</li>{% endfor %}</ul>{% endif %}\n"
    "{% for field in form.hidden_fields %}{{ field }}{% endfor %}\n"
    "{% for field in form.visible_fields %}\n"
    '<div class="field{% if field.errors %} has-errors{% endif %}'
    "{% if field.widget_type == 'checkbox' %} field-checkbox{% endif %}\">\n"
    "  {% if field.widget_type == 'checkbox' %}{{ field }} {{ field.label_tag }}{% else %}{{ field.label_tag }}"
    '{% if field.field.required %}<span class="required" aria-hidden="true">*</span>{% endif %}'
    "{{ field }}{% endif %}\n"
    '  {% if field.help_text %}<small class="helptext">{{ field.help_text }}</small>{% endif %}\n'
    '  {% if field.errors %}<ul class="errorlist" role="alert">{% for error in field.errors %}'
    "<li>{{ error }}</li>{% endfor %}</ul>{% endif %}\n"
    "</div>\n"
    "{% endfor %}\n"
)


class WithErrors(Everything):
    def clean(self):
        raise forms.ValidationError(["Both <b>at once</b> & more", "Second"])


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    ("form_class", "data"),
    [
        (Everything, None),  # unbound: initial values, help texts, a hidden field, a checkbox
        (Everything, {"title": "x" * 30, "count": "-1", "email": "nope", "agree": "on"}),  # field errors
        (WithErrors, {"plain": "a", "body": "b", "count": "2", "secret": "s", "title": "t"}),  # form errors
    ],
)
def test_the_fields_are_written_as_the_template_wrote_them(form_class, data, language):
    from django.template import engines

    from itsm.form_renderer import fields_html

    reference = engines["django"].from_string(FIELDS_TEMPLATE)
    with translation.override(language):
        form = form_class(data)
        assert fields_html(form) == reference.render({"form": form_class(data)})


def test_its_escaping_is_djangos_conditional_escape():
    from django.utils.functional import lazy
    from django.utils.html import conditional_escape
    from django.utils.safestring import SafeString, mark_safe
    from django.utils.translation import gettext_lazy

    from itsm.form_renderer import _escape

    values = [
        '<b>Tom & "Jerry"</b> l\'été',
        gettext_lazy("Assignee"),
        mark_safe("<em>kept</em>"),  # noqa: S308 - a literal
        lazy(lambda: mark_safe("<i>lazy & safe</i>"), SafeString)(),  # noqa: S308 - a literal
        lazy(lambda: "<i>lazy & plain</i>", str)(),
        42,
        None,
    ]
    assert [_escape(value) for value in values] == [str(conditional_escape(value)) for value in values]
    assert _escape(values[0]) == "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; l&#x27;été"
    assert _escape(values[3]) == "<i>lazy & safe</i>"


def test_a_static_form_is_written_once_per_language(monkeypatch):
    from django.template import engines

    from itsm import form_renderer
    from tickets.forms import AgentCommentForm, WorkLogForm

    reference = engines["django"].from_string(FIELDS_TEMPLATE)
    written = []
    fields_html = form_renderer._fields_html
    monkeypatch.setattr(form_renderer, "_fields_html", lambda form: written.append(form) or fields_html(form))
    monkeypatch.setattr(form_renderer, "_static_html", {})
    for language, label in (("en", "Time spent"), ("fr", "Temps passé")):
        with translation.override(language):
            for form_class in (AgentCommentForm, WorkLogForm):
                first, second = (
                    form_renderer.fields_html(form_class()),
                    form_renderer.fields_html(form_class()),
                )
                assert first == second == reference.render({"form": form_class()})
                assert label in first
    assert len(written) == 4  # two forms in two languages
    # Bound, or with initial values: written each time.
    bound = WorkLogForm({"minutes": "nonsense"})
    assert "errorlist" in form_renderer.fields_html(bound)
    with_initial = WorkLogForm(initial={"note": "Printer <jam>"})
    assert "Printer &lt;jam&gt;" in form_renderer.fields_html(with_initial)
    assert written[4:] == [bound, with_initial]
