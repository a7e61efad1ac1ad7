"""The environment names that set a twinself setting (every alias of every field)."""

from __future__ import annotations

from pydantic import AliasChoices

from twinself.config.settings import Settings


def setting_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names |= {str(choice) for choice in choices}
    return names
