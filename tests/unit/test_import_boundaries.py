"""The pure packages stay pure: ``qbwc_service.qbxml`` imports nothing of the service, and ``mappings`` nothing
but the Fusion entity models it maps (DESIGN.md, "The parts"). Each check imports every module of the package
in a fresh interpreter and lists the service modules that came along."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("qbwc_service."))))
"""


def _modules(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [package] + [f"{package}.{path.stem}" for path in sorted(folder.glob("*.py")) if path.stem != "__init__"]


def _service_modules_imported_by(package: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PROBE, *_modules(package)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize(("package", "allowed"), [
    ("qbwc_service.qbxml", set()),
    ("mappings", {"qbwc_service.fusion", "qbwc_service.fusion.models"}),
])
def test_a_pure_package_imports_nothing_of_the_service(package: str, allowed: set[str]) -> None:
    foreign = {name for name in _service_modules_imported_by(package) if not name.startswith("qbwc_service.qbxml")}
    assert foreign <= allowed, f"{package} imports {sorted(foreign - allowed)}"
