"""The web console at /ui: one page and its static files, shipped in this package.

Every console URL (/ui, /ui/jobs/{id}, ...) answers the same page; its JavaScript draws the
page the URL names (client-side routing) and calls the API with the key the user pasted,
kept in the tab's sessionStorage and sent as `Authorization: Bearer`, never in a URL. The
console needs no key to load: it holds no data, only the code that asks the API for it.

The Content-Security-Policy allows scripts, styles and requests from this origin only, no
inline script or style, and Trusted Types with no policy: assigning a string to innerHTML
throws, so a value from the API (an SMTP banner is written by whoever runs the server)
can only ever be shown as text.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from api.errors import ApiError
from api.openapi import CONSOLE as PREFIX

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"

# The console's pages: each URL answers the same document, which draws the page it names.
PAGES = (
    "",
    "/batch",
    "/jobs",
    "/jobs/<job_id>",
    "/providers",
    "/webhooks",
    "/webhooks/<webhook_id>",
)
# What the static folder may serve, and as what (the system's MIME table varies: a module
# script must come as JavaScript).
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

bp = Blueprint("console", __name__)


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def page(**_: str) -> Response:
    """The console's document, whatever page the URL names."""
    return _secured(send_from_directory(HERE, "index.html", mimetype="text/html", max_age=0))


for path in PAGES:
    bp.add_url_rule(PREFIX + path, view_func=page, methods=["GET"])


@bp.get(f"{PREFIX}/static/<path:filename>")
def static_file(filename: str) -> Response:
    media_type = MEDIA_TYPES.get(Path(filename).suffix)
    if media_type is None:
        raise ApiError(404, "no such file")
    # send_from_directory refuses paths that leave the folder (404).
    return _secured(send_from_directory(STATIC, filename, mimetype=media_type, max_age=0))
