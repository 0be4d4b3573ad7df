"""The status-code policy, code by code, and the hresult advice."""

from __future__ import annotations

import pytest

from qbwc_service.qbxml.status import Action, explain, hresult_hint, missing_reference, verdict_for


@pytest.mark.parametrize(
    ("code", "severity", "action"),
    [
        ("0", "Info", Action.DONE),
        ("1", "Info", Action.EMPTY),
        ("500", "Warn", Action.DONE),
        ("530", "Warn", Action.DONE),
        ("3100", "Error", Action.LINK_EXISTING),
        ("3140", "Error", Action.CREATE_DEPENDENCY),
        ("3170", "Error", Action.RETRY),
        ("3175", "Error", Action.RETRY),
        ("3176", "Error", Action.RETRY),
        ("3180", "Error", Action.RETRY),
        ("1000", "Error", Action.RETRY),
        ("3200", "Error", Action.REQUERY),
        ("3000", "Error", Action.DEAD),
        ("3070", "Error", Action.DEAD),
        ("3120", "Error", Action.DEAD),
        ("3150", "Error", Action.DEAD),
        ("3210", "Error", Action.DEAD),
        ("3250", "Error", Action.DEAD),
        ("3260", "Error", Action.DEAD),
        ("3261", "Error", Action.DEAD),
        ("9999", "Error", Action.DEAD),
        ("not-a-number", "Error", Action.DEAD),
    ],
)
def test_each_status_code_has_its_action(code: str, severity: str, action: Action) -> None:
    assert verdict_for(code, severity).action is action


@pytest.mark.parametrize("code", ["3070", "3250", "3260", "3261", "3120", "3150", "3210"])
def test_dead_codes_say_what_a_person_can_do(code: str) -> None:
    hint = verdict_for(code, "Error").hint
    assert len(hint) > 30 and "see the message" not in hint


def test_3140_names_the_missing_object() -> None:
    message = ('There is an invalid reference to QuickBooks Customer "Acme: Job 7" in the Sales Order.  '
               "QuickBooks error message: Invalid argument.")
    assert missing_reference(message) == ("Customer", "Acme: Job 7")
    text = explain("3140", message, verdict_for("3140", "Error"))
    assert "no Customer named 'Acme: Job 7'" in text
    assert missing_reference("something else") is None


@pytest.mark.parametrize(
    ("hresult", "words"),
    [
        ("0x80040400", "parse"),
        ("0x80040401", "could not access"),
        ("0x80040408", "Open QuickBooks"),
        ("0x80040410", "company file"),
        ("0x80040414", "Close the dialog"),
        ("0x80040416", "Open the company file"),
        ("0x80040420", "denied access"),
        ("0x8004041A", "Yes, always"),
        ("-2147220472", "Open QuickBooks"),  # 0x80040408 as a signed decimal
    ],
)
def test_hresults_say_what_to_do(hresult: str, words: str) -> None:
    assert words in hresult_hint(hresult)


def test_unknown_hresult_still_explains() -> None:
    assert "QuickBooks" in hresult_hint("0x12345678")
    assert "QuickBooks" in hresult_hint("")
