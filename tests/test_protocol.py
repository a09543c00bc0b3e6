"""The message schema: every client message parses to a typed value or a coded error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstream.signalling.protocol import Candidate, Inputs, Offer, Ping, ProtocolError, Stop, Trigger, parse

LIMIT = 256 * 1024


def test_each_message_type_parses():
    assert parse(json.dumps({"type": "offer", "sdp": "v=0\r\n", "inputs": [1, "a"]}), LIMIT) == Offer(
        "v=0\r\n", (1, "a")
    )
    assert parse('{"type":"offer","sdp":"v=0"}', LIMIT).inputs is None
    assert parse(
        '{"type":"candidate","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}',
        LIMIT,
    ) == Candidate("candidate:1 1 udp 1 1.2.3.4 5 typ host", "0", 0)
    assert parse('{"type":"candidate","candidate":""}', LIMIT) == Candidate(None, None, None)
    assert parse('{"type":"inputs","values":[0.5,true,null]}', LIMIT) == Inputs((0.5, True, None))
    assert parse('{"type":"trigger"}', LIMIT) == Trigger()
    assert parse('{"type":"stop"}', LIMIT) == Stop()
    assert parse('{"type":"stop","reason":"fallback"}', LIMIT) == Stop(fell_back=True)
    assert parse('{"type":"ping"}', LIMIT) == Ping()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "invalid_json"),
        ("{", "invalid_json"),
        ("3", "invalid_json"),
        ('{"type": 3}', "invalid_message"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "offer", "sdp": "x"}', "bad_sdp"),
        ('{"type": "offer", "sdp": "v=0", "inputs": {}}', "invalid_message"),
        ('{"type": "candidate", "sdpMLineIndex": true}', "invalid_message"),
        ('{"type": "candidate", "sdpMLineIndex": 99}', "invalid_message"),
        ('{"type": "inputs"}', "invalid_message"),
        ('{"type": "stop", "reason": "bored"}', "invalid_message"),
        ('{"type": "stop", "reason": 3}', "invalid_message"),
        (json.dumps({"type": "inputs", "values": list(range(65))}), "invalid_message"),
        (json.dumps({"type": "offer", "sdp": "v=0" + "x" * 200_000}), "invalid_message"),
        ("x" * (LIMIT + 1), "message_too_large"),
    ],
)
def test_bad_messages_raise_coded_errors(text, code):
    with pytest.raises(ProtocolError) as error:
        parse(text, LIMIT)
    assert error.value.code == code
    assert error.value.as_message() == {"type": "error", "code": code, "message": error.value.message}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_here_either(constant):
    """Python's json reads them as floats, which then reached the handler as an input; a browser's
    JSON.stringify never writes them (it writes null), so only a hand-made client sends them."""
    with pytest.raises(ProtocolError) as error:
        parse(f'{{"type": "inputs", "values": [0.5, {constant}]}}', LIMIT)
    assert error.value.code == "invalid_json"
    assert error.value.message == f"The message is not valid JSON: it holds {constant}, which JSON does not have."


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["type", "sdp", "values", "candidate", "sdpMid", "sdpMLineIndex", "inputs"]), json_values
        ),
    )
)
def test_any_json_either_parses_or_raises_a_protocol_error(value):
    try:
        parse(json.dumps(value), LIMIT)
    except ProtocolError as error:
        assert error.code in {"invalid_json", "invalid_message", "unknown_type", "bad_sdp", "message_too_large"}
