"""Tokens are stored hashed and compared in constant time; the .qwc is complete and well-formed."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from qbwc_service.connections import hash_token, render_qwc, token_matches
from qbwc_service.db.models import Connection
from qbwc_service.settings import load_settings


def test_token_hash_verifies_only_the_token() -> None:
    stored = hash_token("s3cret-token")
    assert "s3cret-token" not in stored
    assert token_matches("s3cret-token", stored)
    assert not token_matches("s3cret-tokem", stored)
    assert not token_matches("", stored)
    assert not token_matches("anything", None)
    assert hash_token("same") != hash_token("same")  # salted


def test_qwc_has_every_field_the_web_connector_needs(tmp_path: Path) -> None:
    settings = load_settings(public_url="https://qb.example.com", run_every_minutes=15)
    connection = Connection(name="Plant & Co", username="plant-co", owner_id="{A}", file_id="{B}")
    root = etree.fromstring(render_qwc(connection, settings).encode())
    assert root.tag == "QBWCXML"
    fields = {child.tag: (child.text or "") for child in root if isinstance(child.tag, str)}
    assert fields["AppURL"] == "https://qb.example.com/qbwc"
    assert fields["AppSupport"].startswith("https://qb.example.com/")
    assert fields["UserName"] == "plant-co"
    assert fields["OwnerID"] == "{A}" and fields["FileID"] == "{B}"
    assert fields["QBType"] == "QBFS" and fields["IsReadOnly"] == "false" and fields["Style"] == "Document"
    assert fields["UnattendedModePref"] and fields["PersonalDataPref"]
    assert root.findtext("Scheduler/RunEveryNMinutes") == "15"
    assert "Plant & Co" in fields["AppName"]
    assert "Password" not in fields


def test_qwc_is_well_formed_whatever_the_name() -> None:
    settings = load_settings(public_url="https://qb.example.com")
    for name in ("Acme--Plant", "Plant-", "A---B", "x & <y>"):
        connection = Connection(name=name, username="u", owner_id="{A}", file_id="{B}")
        root = etree.fromstring(render_qwc(connection, settings).encode())
        assert name.replace("--", "-") in (root.findtext("AppName") or "").replace("--", "-")
