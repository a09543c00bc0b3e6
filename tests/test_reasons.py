"""Close reasons and refusals are one set of names: the code's enums, the model's
choices, docs/protocol.md and the widget's texts agree."""

from __future__ import annotations

import re
from pathlib import Path

from rtcstream.models import EndReason
from rtcstream.reasons import EXPIRED, CloseReason, MessageError, Refusal

ROOT = Path(__file__).resolve().parent.parent


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end != -1 else None]


def test_the_model_records_every_close_reason_and_refusal_and_nothing_else():
    assert set(EndReason.values) == {*CloseReason, *Refusal, EXPIRED}


def test_docs_protocol_lists_exactly_the_close_reasons():
    section = _section((ROOT / "docs" / "protocol.md").read_text(), "### Close reasons")
    assert set(re.findall(r"`([a-z_]+)`", section)) - {"CloseStream", "receive"} == set(CloseReason)


def test_docs_protocol_lists_exactly_the_error_codes_the_server_sends():
    section = _section((ROOT / "docs" / "protocol.md").read_text(), "### Error codes")
    codes = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    # handler_error and media_error are sent as errors before their `closed`
    assert codes == {*MessageError, *Refusal, CloseReason.HANDLER_ERROR, CloseReason.MEDIA_ERROR}


def test_the_widget_has_a_text_for_every_close_reason_and_knows_the_failures():
    messages = (ROOT / "rtcstream" / "static" / "rtcstream" / "messages.js").read_text()
    closed_text = messages[messages.index("export const CLOSED_TEXT") :]
    closed_text = closed_text[: closed_text.index("};")]
    assert set(re.findall(r"^\s+([a-z_]+):", closed_text, re.M)) == set(CloseReason)
    failures = re.search(r"ERROR_REASONS = new Set\(\[([^\]]*)\]\)", messages)
    assert failures is not None
    assert set(re.findall(r'"([a-z_]+)"', failures.group(1))) == {
        CloseReason.HANDLER_ERROR,
        CloseReason.MEDIA_ERROR,
        CloseReason.CONNECTION_FAILED,
    }


def test_the_widget_has_words_for_every_refusal_and_the_controller_uses_them():
    static = ROOT / "rtcstream" / "static" / "rtcstream"
    messages = (static / "messages.js").read_text()
    refused_text = messages[messages.index("export const REFUSED_TEXT") :]
    refused_text = refused_text[: refused_text.index("};")]
    assert set(re.findall(r"^\s+([a-z_]+):", refused_text, re.M)) == set(Refusal)
    assert "REFUSED_TEXT[code]" in (static / "controller.js").read_text()
