from dataclasses import dataclass

from sedo.domain.apinames import api_fields, api_name


def test_api_names_are_the_camel_case_of_the_fields() -> None:
    assert [api_name(f) for f in ("id", "tenant_id", "definition_version", "fan_in_checks")] == [
        "id",
        "tenantId",
        "definitionVersion",
        "fanInChecks",
    ]


def test_api_fields_keep_the_order_asked_for() -> None:
    @dataclass
    class Record:
        tenant_id: str
        created_at: str

    assert list(api_fields(Record("t", "now"), "created_at", "tenant_id").items()) == [
        ("createdAt", "now"),
        ("tenantId", "t"),
    ]
