"""Documentation generated from code stays in sync with it."""

from __future__ import annotations

import re
from pathlib import Path

from deploygate.manifest.schema import load_schema
from deploygate.rules import RULES, render_rules_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_rules_reference_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "rules.md").read_text() == render_rules_markdown()


def test_rule_ids_are_well_formed() -> None:
    for rule_id, rule in RULES.items():
        assert re.fullmatch(r"DG[1-6]\d\d", rule_id) and rule.id == rule_id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)


def _keys(schema: dict, prefix: str = "") -> list[str]:
    out = []
    for key, sub in schema.get("properties", {}).items():
        out.append(prefix + key)
        out.extend(_keys(sub, f"{prefix}{key}."))
    return out


def test_every_model_key_is_documented() -> None:
    text = (ROOT / "docs" / "manifest.md").read_text()
    model = load_schema()["properties"]["models"]["items"]
    for key in _keys(model):
        if key in ("latency.inputs",):
            continue
        assert f"`{key}`" in text or f"`{key}." in text, key


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_every_top_level_device_and_waiver_key_is_documented() -> None:
    text = (ROOT / "docs" / "manifest.md").read_text()
    schema = load_schema()
    tables = {"## Top level": schema["properties"],
              "## A device": schema["properties"]["devices"]["additionalProperties"]["properties"],
              "### Waivers": schema["properties"]["waivers"]["items"]["properties"]}
    for heading, properties in tables.items():
        section = _section(text, heading)
        for key in properties:
            assert f"`{key}`" in section, f"{heading}: {key}"


def test_every_schema_property_has_a_description() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                assert "description" in sub, f"{path}.{key}"
            for key, sub in node.items():
                walk(sub, f"{path}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}[{i}]")

    walk(load_schema(), "")


def test_limits_table_is_generated_from_the_registry() -> None:
    from deploygate.artifacts.formats import all_limits
    from deploygate.limits import render_limits_markdown

    text = (ROOT / "docs" / "security.md").read_text()
    table = text.split("<!-- limits:begin -->\n", 1)[1].split("<!-- limits:end -->", 1)[0]
    assert table == render_limits_markdown(all_limits())


def test_every_limit_names_a_numeric_constant_once() -> None:
    from deploygate.artifacts.formats import all_limits

    every = all_limits()
    assert len({(limit.module, limit.name) for limit in every}) == len(every)
    for limit in every:
        assert isinstance(limit.value, (int, float)) and limit.value > 0, \
            f"{limit.module}.{limit.name}"
