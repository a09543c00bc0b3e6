"""The admin's endpoint form: a field for each handler option of the kind table."""

from __future__ import annotations

from typing import Any

from django import forms

from rtcstream.endpoints import kinds, registry
from rtcstream.models import StreamEndpoint

PREFIX = "option_"


def option_field(option: kinds.Option) -> forms.Field:
    if option.type is bool:
        return forms.NullBooleanField(label=option.label, required=False)
    if option.type is str:
        choices = [("", "---------"), *((choice, choice) for choice in option.choices)]
        return forms.TypedChoiceField(label=option.label, required=False, choices=choices, empty_value=None)
    return forms.FloatField(label=option.label, required=False, min_value=option.minimum)


class EndpointForm(forms.ModelForm):
    """``StreamEndpoint`` with one field per option any handler kind takes (``kinds.all_endpoint_options``).

    An option left empty is left out of ``handler_options``: the endpoint keeps
    the handler's own value, which the field's help text shows.
    """

    class Meta:
        model = StreamEndpoint
        exclude = ["handler_options"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_here = self.instance.handler_options or {}
        handler = self._handler()
        for option in kinds.all_endpoint_options():
            field = self.fields.get(PREFIX + option.name)
            if field is None:
                continue  # not on this form (the admin shows the fields its fieldsets name)
            field.initial = set_here.get(option.name)
            field.help_text = option.help
            if handler is not None and option in handler.kind.endpoint_options:
                field.help_text += f" Empty keeps the handler's own: {option.current(handler.handler)}."

    def _handler(self) -> registry.HandlerSpec | None:
        try:
            return registry.get_handler(self.instance.handler) if self.instance.handler else None
        except registry.RegistryError:
            return None

    @classmethod
    def option_field_names(cls) -> tuple[str, ...]:
        return tuple(PREFIX + option.name for option in kinds.all_endpoint_options())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        spec = None
        try:
            spec = registry.get_handler(cleaned.get("handler") or "")
        except registry.RegistryError:
            pass  # the model's clean says so
        taken = {option.name for option in spec.kind.endpoint_options} if spec is not None else set()
        options = {}
        for option in kinds.all_endpoint_options():
            value = cleaned.get(PREFIX + option.name)
            if value is None:
                continue
            if spec is not None and option.name not in taken:
                self.add_error(PREFIX + option.name, f"A {spec.kind.label} does not take this option.")
                continue
            options[option.name] = value
        self.instance.handler_options = options
        return cleaned


# The option fields are declared on the class, as if written out one by one, so that the
# admin's fieldsets can name them: one per option of the kind table.
for _option in kinds.all_endpoint_options():
    EndpointForm.base_fields[PREFIX + _option.name] = EndpointForm.declared_fields[PREFIX + _option.name] = (
        option_field(_option)
    )
