"""The API's reference page, rendered on the server from its OpenAPI document.

A browser sends the API key only when it is asked for a page, so a JavaScript viewer that fetches the document
on its own (Swagger UI) would get a 401, and it loads its code from a CDN that a closed network does not
reach. This page needs neither: every operation, its parameters, its body and its answers, in plain HTML.
"""

from __future__ import annotations

from html import escape
from typing import Any

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def render(document: dict[str, Any], openapi_url: str) -> str:
    info = document.get("info", {})
    servers = document.get("servers") or [{"url": ""}]
    base = servers[0].get("url", "")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{escape(info.get('title', 'API'))}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{font-family:ui-monospace,monospace}h3{margin-bottom:.2rem}"
        ".op{border-top:1px solid #ccc;padding:.5rem 0}.m{font-weight:bold;text-transform:uppercase}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}</style>",
        "</head><body>",
        f"<h1>{escape(info.get('title', 'API'))}</h1>",
        f"<pre>{escape(info.get('description', ''))}</pre>",
        f"<p>The OpenAPI document: <a href=\"{escape(openapi_url)}\"><code>{escape(openapi_url)}</code></a> "
        "(with the same key).</p>",
    ]
    for path, item in sorted(document.get("paths", {}).items()):
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is not None:
                parts.append(_operation(method, base + path, operation))
    parts.append("</body></html>")
    return "".join(parts)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    out = [f"<div class=\"op\"><h3><span class=\"m\">{method}</span> <code>{escape(path)}</code></h3>"]
    if summary := operation.get("summary"):
        out.append(f"<p><strong>{escape(summary)}</strong></p>")
    if description := operation.get("description"):
        out.append(f"<p>{escape(description)}</p>")
    parameters = operation.get("parameters", [])
    if parameters:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>what</th></tr>")
        for p in parameters:
            out.append(f"<tr><td><code>{escape(p.get('name', ''))}</code></td><td>{escape(p.get('in', ''))}</td>"
                       f"<td>{escape(_type(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
                       f"<td>{escape(p.get('description', ''))}</td></tr>")
        out.append("</table>")
    body = operation.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out.append(f"<p>Body ({escape(media)}): <code>{escape(_type(content.get('schema', {})))}</code></p>")
    answers = ", ".join(f"{escape(status)} {escape(r.get('description', ''))}"
                        for status, r in sorted(operation.get("responses", {}).items()))
    out.append(f"<p>Answers: {answers}</p></div>")
    return "".join(out)


def _type(schema: dict[str, Any]) -> str:
    if ref := schema.get("$ref"):
        return str(ref).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "object"))
