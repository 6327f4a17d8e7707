"""Checks of the declared client attributes against the rest of the project file."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from typing import Any

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def attribute_roles(config: Any) -> dict[str, str]:
    """``{feature: role}`` of every attribute feature the project can have (declared
    attributes, and the built-in demographics its clients mapping provides)."""
    from segmint.sources._schema import BUILTIN_ATTRIBUTES  # the schema's (import cycle)

    mapped = {c for m in config.mappings("clients") for c in m.columns}
    roles = {
        f"attr_{name}": role
        for name, (column, _t, role, _d) in BUILTIN_ATTRIBUTES.items()
        if column in mapped
    }
    roles |= {f"attr_{name}": a.role for name, a in config.attributes.items()}
    return roles


def check_attributes(config: Any) -> None:
    """Attribute names are valid and free; protected and profile attributes are no
    dimension's input (nor in a rule)."""
    from segmint.sources._schema import BUILTIN_ATTRIBUTES, CLIENTS

    reserved = set(CLIENTS.column_names) | set(BUILTIN_ATTRIBUTES)
    for name in config.attributes:
        if not _NAME.match(name):
            raise ValueError(
                f"attributes.{name}: use lower-case letters, digits and underscores, "
                "starting with a letter"
            )
        if name in reserved:
            raise ValueError(
                f"attributes.{name}: {name!r} is a built-in clients column or attribute; "
                "map it under entities.clients.columns instead (or choose another name)"
            )
    roles = attribute_roles(config)
    barred = {f: r for f, r in roles.items() if r != "input"}
    for dim in config.segmentation.dimensions:
        where = f"segmentation.dimensions.{dim.name}"
        for pattern in dim.inputs or []:
            for feature, role in barred.items():
                if fnmatch(feature, pattern):
                    raise ValueError(
                        f"{where}.inputs: {pattern!r} matches {feature!r}, a {role} attribute "
                        "(only attributes with role input are model inputs)"
                    )
        for i, rule in enumerate(dim.rules):
            for word in _WORD.findall(rule.when):
                if word in barred:
                    raise ValueError(
                        f"{where}.rules[{i}].when: {word!r} is a {barred[word]} attribute "
                        "(only attributes with role input define segments)"
                    )
