"""The REST API (Connexion, from openapi/sedo.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sedo.config import Settings

if TYPE_CHECKING:
    import connexion


def app_from_settings(settings: Settings) -> connexion.FlaskApp:
    """The API app wired to AWS (or the endpoint the settings name)."""
    from sedo import bootstrap
    from sedo.entrypoints.api.app import create_app

    return create_app(bootstrap.api_services(bootstrap.aws_adapters(settings), settings), settings)
