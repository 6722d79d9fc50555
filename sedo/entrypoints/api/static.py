"""The pages the API serves besides its operations: the console, Swagger UI and the spec.

- ``/sedo/console/``: the browser console (static files under ``static/console``, with
  the vendored libraries of ``static/vendor`` at ``/sedo/console/vendor/``);
- ``/sedo/ui/``: Swagger UI over the spec;
- ``/sedo/openapi.json``: openapi/sedo.yaml as JSON.

They are public (the pages hold no data; their API calls carry the user's token) and
static: the files are listed once, when the app is built, and only those are served, so
no request path ever reaches the file system. Every response carries a strict
Content-Security-Policy: scripts and styles from this origin only, no inline code, no eval.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sedo.domain.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
#: Where each page's files are, and what it may also use from static/vendor.
SITES = {"console": ("console", ("elkjs", "json-editor", "js-yaml")), "ui": ("ui", ("swagger-ui-dist",))}


def _files(site: str) -> dict[str, Path]:
    own, vendored = SITES[site]
    found = {p.relative_to(STATIC / own).as_posix(): p for p in (STATIC / own).rglob("*") if p.suffix in TYPES}
    for name in vendored:
        for path in (STATIC / "vendor" / name).iterdir():
            if path.suffix in TYPES:
                found[f"vendor/{name}/{path.name}"] = path
    return found


def _response(body: bytes, content_type: str, cache_control: str = "no-cache") -> Any:
    from flask import Response

    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": cache_control, **HEADERS})


def register(app: Any, spec_path: Path) -> None:
    """Add the console, Swagger UI and spec routes to the Connexion app."""
    from flask import redirect

    for site in SITES:
        files = _files(site)

        def page(name: str = "index.html", files: dict[str, Path] = files, site: str = site) -> Any:
            path = files.get(name)
            if path is None:
                raise NotFound(f"/sedo/{site}/{name} does not exist")
            immutable = name.startswith("vendor/")  # pinned versions: the bytes never change
            return _response(path.read_bytes(), TYPES[path.suffix], "max-age=86400" if immutable else "no-cache")

        def to_slash(site: str = site) -> Any:
            # index.html by name: API Gateway may route a bare "/sedo/console/" past the page routes
            return redirect(f"{site}/index.html", 308)  # relative: right behind any proxy prefix too

        app.add_url_rule(f"/sedo/{site}", f"{site}_root", to_slash, methods=["GET"])
        app.add_url_rule(f"/sedo/{site}/", f"{site}_index", page, methods=["GET"])
        app.add_url_rule(f"/sedo/{site}/<path:name>", f"{site}_file", page, methods=["GET"])

    def spec() -> Any:
        return _response(_spec_json(spec_path), "application/json")

    app.add_url_rule("/sedo/openapi.json", "openapi_json", spec, methods=["GET"])


@cache
def _spec_json(spec_path: Path) -> bytes:
    return json.dumps(yaml.safe_load(spec_path.read_text()), indent=1).encode()
