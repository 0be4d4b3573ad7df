"""The HTTP API, mounted at /api/v1: what Fusion-side tools and scripts use. Its routers only translate: each
route calls a use case (qbwc_service.usecases, connection_usecases) in one transaction, and every error is a problem
(api.problems). Every request needs an API key (api.auth); the OpenAPI document and the docs page too, and
a setting turns them off. Nothing the API serves names the service's version."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse

from qbwc_service.api import automation, connections, deliveries, docs_page, enqueue, jobs, problems
from qbwc_service.api.auth import ApiKeyGuard, bearer
from qbwc_service.api.context import ApiContext
from qbwc_service.api.limits import BodyLimit

PREFIX = "/api/v1"
API_VERSION = "1"
"""The version of the API's contract (its paths and bodies), which is not the service's."""

DESCRIPTION = """The HTTP API of qbwc-service, the bridge between Autodesk Fusion Operations and QuickBooks Desktop
over the QuickBooks Web Connector.

Every request needs an API key (`qbwc-service apikey create NAME`) as `Authorization: Bearer KEY`; writes need an
admin key (a `--read-only` key reads). Errors are `application/problem+json`: `type`, `title`, `status`,
`detail`, and the fields of their kind (`field` and `reason` for an invalid option, `job_id` for a job, ...).
"""


def create_api(context: ApiContext) -> FastAPI:
    api = FastAPI(title="qbwc-service API", version=API_VERSION, description=DESCRIPTION, openapi_url=None,
                  docs_url=None, redoc_url=None, servers=[{"url": PREFIX}],
                  responses={401: {"model": problems.Problem, "description": "No valid API key."},
                             403: {"model": problems.Problem, "description": "A read-only key's write."},
                             404: {"model": problems.Problem, "description": "No such connection, job or delivery."},
                             409: {"model": problems.Problem, "description": "Not in the current state."},
                             413: {"model": problems.Problem, "description": "The body is too large."},
                             422: {"model": problems.Problem, "description": "Refused input: nothing changed."}})
    api.state.api_context = context
    problems.install(api)
    secured = [Security(bearer)]
    for router in (connections.router, enqueue.router, jobs.router, deliveries.router, automation.router):
        api.include_router(router, dependencies=secured)
    api.include_router(automation.webhook_router)  # signed instead (qbwc_service.webhooks)
    _problems_as_problem_json(api)
    if context.settings.api_docs:
        _serve_docs(api)
    api.add_middleware(BodyLimit, max_bytes=context.settings.api_max_body_bytes,
                       idle_timeout=context.settings.request_body_timeout_seconds)
    # The outermost: nothing runs before the key is checked, except the webhook, which checks its signature.
    api.add_middleware(ApiKeyGuard, context=context,
                       unguarded=(automation.WEBHOOK_PATH, PREFIX + automation.WEBHOOK_PATH))
    return api


def _problems_as_problem_json(api: FastAPI) -> None:
    """The document says what is sent: every error answer is application/problem+json."""
    made = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = made()
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[0] in "45" and "application/json" in content:
                            content[problems.MEDIA_TYPE] = content.pop("application/json")
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _serve_docs(api: FastAPI) -> None:
    @api.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(docs_page.render(api.openapi(), f"{PREFIX}/openapi.json"))
