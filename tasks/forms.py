"""The admin's forms: a codeunit's settings, running a codeunit, a binding.

Every choice of code comes from a registry (codeunits from ``tasks.codeunits``,
pages from ``bcpages.pages``), never from typed text: no form can make a worker
import a module or run a function the code did not register.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory

from tasks import conf
from tasks.bindings import parse_results, record_field_names, template_fields
from tasks.codeunits import registered_codeunits
from tasks.models import CodeunitBinding, CodeunitSetting


def _registry():
    return {unit.id: unit for unit in registered_codeunits()}


class CodeunitSettingForm(forms.ModelForm):
    """Enabled, defaults and notes are the administrator's; the implementation is
    chosen from the registry (the one registered under this id), never typed."""

    implementation = forms.ChoiceField(
        help_text="The registered Python function of this codeunit; only registered codeunits can be chosen."
    )

    class Meta:
        model = CodeunitSetting
        fields = ["implementation", "enabled", "default_timeout_ms", "default_error_level", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["implementation"]
        unit = _registry().get(self.instance.pk)
        if unit is None:
            # Missing from the code: nothing can run it; the stored name is only shown.
            field.choices = [(self.instance.implementation, f"{self.instance.implementation} (missing from the code)")]
            field.disabled = True
            field.help_text = "This codeunit is no longer registered in the code: pages cannot run it."
        else:
            field.choices = [(unit.implementation, f"{unit.implementation} (codeunit {unit.id} {unit.name})")]

    def clean_default_timeout_ms(self):
        value = self.cleaned_data["default_timeout_ms"]
        maximum = conf.get("MAX_TIMEOUT_MS")
        if value is not None and value > maximum:
            raise ValidationError(
                f"Default timeout {value} ms is above the server's maximum of {maximum} ms (BCPAGES MAX_TIMEOUT_MS)."
            )
        return value


class RunForm(forms.Form):
    timeout_ms = forms.CharField(
        label="Timeout (ms)", required=False,
        help_text="Empty: the codeunit's default timeout, else the server default. Larger values are clamped to the maximum.",
    )

    def clean_timeout_ms(self):
        value = self.cleaned_data["timeout_ms"].strip()
        if not value:
            return None
        try:
            timeout = int(value)
        except ValueError:
            raise ValidationError(
                f"Timeout {value!r} is not a whole number of milliseconds; write for example 10000 for ten seconds."
            ) from None
        if timeout <= 0:
            raise ValidationError(f"Timeout {timeout} must be a positive number of milliseconds.")
        return timeout


class ParameterForm(forms.Form):
    key = forms.CharField(required=False, max_length=200)
    value = forms.CharField(required=False, strip=False, max_length=10_000)

    def clean(self):
        data = super().clean()
        key = (data.get("key") or "").strip()
        if not key and data.get("value"):
            raise ValidationError(f"The value {data['value']!r:.60} has no key; give the parameter a name.")
        data["key"] = key
        return data


class BaseParameterFormSet(BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            key = form.cleaned_data.get("key")
            if not key:
                continue
            if key in seen:
                raise ValidationError(f"Parameter {key!r} is given twice; give each key once.")
            seen.add(key)

    def parameters(self):
        """The rows as a ``dict[str, str]`` (rows without a key are skipped)."""
        return {form.cleaned_data["key"]: form.cleaned_data.get("value") or "" for form in self.forms if form.cleaned_data.get("key")}


ParameterFormSet = formset_factory(ParameterForm, formset=BaseParameterFormSet, extra=4, max_num=100, validate_max=True)


class CodeunitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.id} {obj.name}" + ("" if obj.enabled else " (disabled)")


class CodeunitBindingForm(forms.ModelForm):
    page = forms.ChoiceField(help_text="A registered page.")
    codeunit = CodeunitChoiceField(queryset=CodeunitSetting.objects.none(), help_text="A registered codeunit.")

    class Meta:
        model = CodeunitBinding
        fields = ["page", "codeunit", "caption", "parameters", "results", "timeout_ms", "error_level", "enabled", "notes"]
        widgets = {"results": forms.Textarea(attrs={"rows": 4}), "parameters": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        from bcpages.pages import registered_pages

        super().__init__(*args, **kwargs)
        self.pages = registered_pages()
        self.fields["page"].choices = [("", "---------")] + [
            (name, f"{name} ({page.caption or page.__name__})") for name, page in sorted(self.pages.items())
        ]
        self.fields["codeunit"].queryset = CodeunitSetting.objects.filter(id__in=list(_registry())).order_by("id")

    def clean_parameters(self):
        parameters = self.cleaned_data.get("parameters")
        if parameters in (None, ""):
            return {}
        if not isinstance(parameters, dict):
            raise ValidationError(
                f'The parameter template must be a JSON object of strings, like {{"CustomerNo": "{{no}}"}}; '
                f"this is a {type(parameters).__name__}."
            )
        for key, template in parameters.items():
            if not isinstance(template, str):
                raise ValidationError(
                    f"Parameter {key!r} is {template!r}, a {type(template).__name__}; parameters are strings "
                    f'(write "{template}" in quotes).'
                )
            try:
                template_fields(template)
            except ValueError as exc:
                raise ValidationError(f"Parameter {key!r}: {exc}") from None
        return parameters

    def clean_results(self):
        try:
            parse_results(self.cleaned_data.get("results", ""))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return self.cleaned_data["results"]

    def clean_timeout_ms(self):
        value = self.cleaned_data.get("timeout_ms")
        maximum = conf.get("MAX_TIMEOUT_MS")
        if value is not None and value > maximum:
            raise ValidationError(f"Timeout {value} ms is above the server's maximum of {maximum} ms (BCPAGES MAX_TIMEOUT_MS).")
        return value

    def clean(self):
        data = super().clean()
        page_name, parameters = data.get("page"), data.get("parameters")
        page = self.pages.get(page_name)
        if page is None or not isinstance(parameters, dict):
            return data  # the field's own error says why
        model = getattr(page, "model", None)
        allowed = record_field_names(model)
        for key, template in parameters.items():
            for name in template_fields(template):
                if model is None:
                    self.add_error("parameters", f"Parameter {key!r} names {{{name}}}, but page {page_name!r} has no record to read it from.")
                elif name not in allowed:
                    known = ", ".join(sorted(f.name for f in model._meta.concrete_fields))
                    self.add_error(
                        "parameters",
                        f"Parameter {key!r} names {{{name}}}, but {model._meta.object_name} (the record of page "
                        f"{page_name!r}) has no field {name!r}; its fields: {known}.",
                    )
        return data
