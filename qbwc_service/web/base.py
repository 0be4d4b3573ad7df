"""What every page shares: the templates, the session cookies, who is asking (a dependency that sends a visitor
who is not signed in to the sign-in page), the check every POST passes (signed in, CSRF token, admin key), and
the error pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from qbwc_service.api.context import ApiContext
from qbwc_service.web.session import SessionCookies, Visitor, csrf_matches

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"


def when(value: datetime | None) -> str:
    """A stored time (naive UTC) as the pages show it."""
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def path_part(value: object) -> str:
    """A connection name (letters, digits, spaces, '.', '_', '-') as one segment of a path."""
    return quote(str(value), safe="")


class Pages:
    """The pages' shared parts, built once with the app."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self.cookies = SessionCookies(context)
        self.templates = Jinja2Templates(directory=TEMPLATES_DIR)  # autoescapes every value
        self.templates.env.filters["when"] = when
        self.templates.env.filters["path"] = path_part
        self.templates.env.globals["app_name"] = context.settings.app_name

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        visitor = request.scope.get("state", {}).get("visitor")
        return self.templates.TemplateResponse(request, template, {"visitor": visitor, **values},
                                               status_code=status)


def pages_of(request: Request) -> Pages:
    pages = request.app.state.pages
    assert isinstance(pages, Pages)
    return pages


class SignInNeeded(Exception):
    """The page needs a signed-in operator: answered with a redirect to the sign-in page."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class PageRefused(Exception):
    """A request the pages refuse, changing nothing: answered with an error page of ``status``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path of this service only (never another site's address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def viewer(request: Request) -> Visitor:
    """The signed-in operator (any key); a visitor who is not signed in is sent to the sign-in page."""
    visitor = pages_of(request).cookies.visitor(request)
    if visitor is None or not visitor.signed_in:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back if request.method == "GET" else "/")
    request.scope.setdefault("state", {})["visitor"] = visitor
    return visitor


@dataclass(frozen=True)
class Action:
    """A POST that passed: who sent it, and its form."""

    visitor: Visitor
    form: FormData


async def actor(request: Request) -> Action:
    """A POST from a signed-in admin key's session carrying the session's CSRF token; anything else is refused
    before the use case runs."""
    visitor = await viewer(request)
    form = await request.form()
    if not csrf_matches(visitor, form.get("csrf")):
        raise PageRefused(403, "Refused", "This form has no valid CSRF token (it was not sent by this page, or "
                          "your session changed since): nothing was changed. Go back, reload the page and try again.")
    if not visitor.may_act:
        raise PageRefused(403, "Read-only", f"You are signed in with the read-only key {visitor.name!r}: it shows "
                          "the pages but changes nothing. Sign in with an admin key to do this.")
    return Action(visitor, form)


def redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def install_handlers(app: FastAPI, pages: Pages) -> None:
    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        return redirect("/signin", next=exc.back_to)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefused)
        return pages.render(request, "error.html", exc.status, title=exc.title, detail=exc.detail)

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(PageRefused, refused)
