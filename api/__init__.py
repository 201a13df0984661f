"""The front-ends: a thin Flask app (api.app.create_app) that validates, authorises, enqueues
and reports, and Zitadel's wire (api.zitadel) beside it, both on api.operations."""
