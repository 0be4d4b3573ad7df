"""The page at the ``.qwc``'s AppSupport URL (the Web Connector links to it): what this service is, where the
Web Connector keeps its log, and how to reach whoever runs the service. It names no version."""

from __future__ import annotations

from html import escape
from string import Template

from qbwc_service.settings import Settings

SUPPORT_PATH = "/support"

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$app_name: help</title>
<link rel="stylesheet" href="/static/pages.css">
</head>
<body>
<main>
<h1>$app_name</h1>
<p>$app_description.</p>
<p>This service exchanges data between Autodesk Fusion Operations and QuickBooks Desktop through the
QuickBooks Web Connector, the Intuit program that runs beside QuickBooks on Windows. The Web Connector calls
this service on its schedule; everything QuickBooks is asked to do comes from here, and its answers are
kept here.</p>
<h2>When something goes wrong</h2>
<ul>
<li>The Web Connector's window shows the last run's status; its <em>View Log</em> button opens its log,
<code>C:\\ProgramData\\Intuit\\QBWebConnector\\log\\QWCLog.txt</code>.</li>
<li>QuickBooks must be allowed to let this application in: the first run asks, and the answer can be changed
in QuickBooks under <em>Edit &gt; Preferences &gt; Integrated Applications</em>.</li>
<li>A wrong password in the Web Connector means the token was mistyped or replaced: ask for a new one.</li>
</ul>
<h2>Help</h2>
<p>$contact</p>
</main>
</body>
</html>
""")


def support_page(settings: Settings) -> str:
    if settings.support_contact:
        contact = f"Contact {escape(settings.support_contact)}, who runs this service for you."
    else:
        contact = "Contact whoever gave you this application's .qwc file: they run this service."
    return _PAGE.substitute(app_name=escape(settings.app_name), app_description=escape(settings.app_description),
                            contact=contact)
