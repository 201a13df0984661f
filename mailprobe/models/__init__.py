"""The API's data: the requests it takes and the jobs and reports it serves, one module per
resource. One set of pydantic models serves the API's validation, the worker's report, the
job store and the OpenAPI document, so the four cannot drift apart.

Import each model from its module (mailprobe.models.jobs, .reports, ...): this package
re-exports nothing, so every model has one name.
"""
