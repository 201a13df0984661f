"""The HTTP API: a thin Flask app that validates, authorises, enqueues and reports."""

from api.app import create_app

__all__ = ["create_app"]
