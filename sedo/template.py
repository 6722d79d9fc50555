"""template.yaml, read as plain data: CloudFormation's tags (!Ref, !Sub, !If, ...) become the
values they wrap. The local stack reads its function timeout from it, the price estimates
the functions' sizes and defaults; the template stays the one source of those numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sedo.config import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that also accepts CloudFormation's short-form tags."""


def _intrinsic(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(template: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data (OSError and yaml.YAMLError as they come)."""
    return dict(yaml.load(template.read_text(), Loader=_TemplateLoader))  # noqa: S506 - a SafeLoader subclass


def template_defaults(template: Path = TEMPLATE) -> dict[str, Any]:
    """The template's parameters at their defaults (empty when it cannot be read)."""
    try:
        parameters = load_template(template).get("Parameters", {})
        return {
            name: spec["Default"] for name, spec in parameters.items() if isinstance(spec, dict) and "Default" in spec
        }
    except (OSError, AttributeError, yaml.YAMLError):
        return {}
