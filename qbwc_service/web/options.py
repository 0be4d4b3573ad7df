"""A connection's options as a form: one control per option (a group's options under its name), built from
``IntegrationOptions`` itself, so a new option shows without a change here. Saving sends only what changed to
``connection_usecases.update_options``, the API's one validation: a refused value shows the option and the reason
beside it, keeps what was typed, and saves nothing."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from mappings.options import IntegrationOptions
from qbwc_service import connection_usecases
from qbwc_service.api.problems import describe
from qbwc_service.errors import InvalidOption, QbwcError
from qbwc_service.web.base import Action, PageRefused, actor, pages_of, path_part, redirect, viewer
from qbwc_service.web.session import Visitor

router = APIRouter(include_in_schema=False)

Control = Literal["yes-no", "choice", "number", "text", "json"]


@dataclass(frozen=True)
class OptionField:
    key: str  # dotted: sales_orders.automatic
    control: Control
    choices: tuple[str, ...]
    optional: bool
    description: str | None


def _unwrapped(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def fields_of(model: type[BaseModel] = IntegrationOptions, prefix: str = "") -> list[OptionField]:
    found: list[OptionField] = []
    for name, info in model.model_fields.items():
        annotation, optional = _unwrapped(info.annotation)
        key = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += fields_of(annotation, f"{key}.")
            continue
        if annotation is bool:
            control: Control = "yes-no"
            choices: tuple[str, ...] = ("true", "false")
        elif get_origin(annotation) is Literal:
            control, choices = "choice", tuple(str(a) for a in get_args(annotation))
        elif annotation is int:
            control, choices = "number", ()
        elif get_origin(annotation) is tuple:
            control, choices = "json", ()
        else:
            control, choices = "text", ()
        found.append(OptionField(key, control, choices, optional, info.description))
    return found


FIELDS = fields_of()


def shown_values(options: IntegrationOptions) -> dict[str, str]:
    """Each option's value as its control holds it."""
    dumped = options.model_dump(mode="json")
    values: dict[str, str] = {}
    for field in FIELDS:
        value: Any = dumped
        for part in field.key.split("."):
            value = value[part]
        if value is None:
            values[field.key] = ""
        elif field.control == "yes-no":
            values[field.key] = "true" if value else "false"
        elif field.control == "json":
            values[field.key] = json.dumps(value)
        else:
            values[field.key] = str(value)
    return values


def typed_values(form: FormData, current: dict[str, str]) -> dict[str, str]:
    """Each option's value as typed (an option the form left out keeps its value)."""
    return {field.key: str(form.get(field.key, current[field.key])) for field in FIELDS}


def changes(typed: dict[str, str], current: dict[str, str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """What the form changes: options to set, and options to put back to their default."""
    set_values: list[tuple[str, Any]] = []
    unset: list[str] = []
    for field in FIELDS:
        text = typed[field.key].strip() if field.control != "text" else typed[field.key]
        if text == current[field.key]:
            continue
        if text == "" and (field.optional or field.control == "json"):
            unset.append(field.key)
        elif field.control == "yes-no":
            set_values.append((field.key, text == "true") if text in ("true", "false") else (field.key, text))
        elif field.control == "number":
            set_values.append((field.key, int(text) if text.lstrip("-").isdigit() else text))
        elif field.control == "json":
            try:
                set_values.append((field.key, json.loads(text)))
            except ValueError as exc:
                raise InvalidOption(field.key, f"not JSON: {exc}") from exc
        else:
            set_values.append((field.key, text))
    return set_values, unset


def _refused_fields(field: str) -> set[str]:
    """The form's options a refusal names: the option itself, a group's options, or each option it lists."""
    named = {part.strip() for part in field.split(",") if part.strip()}
    return {f.key for f in FIELDS
            if any(f.key == n or f.key.startswith(f"{n}.") or n.startswith(f"{f.key}.") for n in named)}


def _current(request: Request, name: str) -> dict[str, str]:
    """The connection's options as the form shows them; a page saying so when there is no such connection."""
    with pages_of(request).context.read() as db:
        try:
            return shown_values(connection_usecases.connection_options(db, name))
        except QbwcError as exc:
            raise PageRefused(describe(exc).status, "Not found", str(exc)) from exc


def _form(request: Request, name: str, values: dict[str, str] | None = None, status: int = 200,
          error: InvalidOption | None = None, saved: bool = False) -> Response:
    shown = values if values is not None else _current(request, name)
    return pages_of(request).render(request, "options.html", status, name=name, fields=FIELDS, values=shown,
                                    error=error, refused=_refused_fields(error.field) if error else set(), saved=saved)


@router.get("/connections/{name}/options")
def options_page(name: str, request: Request, visitor: Annotated[Visitor, Depends(viewer)],
                 saved: str | None = None) -> Response:
    return _form(request, name, saved=saved == "yes")


@router.post("/connections/{name}/options")
def save_options(name: str, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    pages = pages_of(request)
    current = _current(request, name)
    typed = typed_values(action.form, current)
    try:
        set_values, unset = changes(typed, current)
        with pages.context.write() as db:
            connection_usecases.update_options(db, name, set_values=set_values, unset=unset)
    except InvalidOption as exc:
        return _form(request, name, {**current, **typed}, 422, exc)
    return redirect(f"/connections/{path_part(name)}/options", saved="yes")
