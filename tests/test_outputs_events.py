"""An output reaches its page whichever rtcstream published it, and whichever serves its page: in a
rolling restart a session's outputs socket may be served by a worker of another release, whose
channel-layer event had another shape (``rtcstream.session.outputs``)."""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from rtcstream.client import RtcClient
from rtcstream.session.outputs import output_event, values_json
from rtcstream.signalling.groups import outputs_group

pytestmark = [pytest.mark.django_db(transaction=True)]

VALUES = ["Hello", {"score": 0.5}, [1, 2]]


@pytest.mark.parametrize(
    "event",
    [
        {"seq": 1, "values": json.dumps(VALUES)},  # JSON text under "values": what output_event publishes
        {"seq": 1, "values_json": json.dumps(VALUES)},  # one release's name for it
        {"seq": 1, "values": VALUES},  # the list itself, before the values were encoded once
    ],
    ids=["text under values", "values_json", "list under values"],
)
async def test_every_published_shape_reaches_the_page_as_one_output(asgi_app, event):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        page = WebsocketCommunicator(asgi_app, client.session["outputs"], headers=[(b"origin", b"http://testserver")])
        assert (await page.connect(timeout=5))[0]
        try:
            session_id = client.session["session"]
            await get_channel_layer().group_send(outputs_group(session_id), {**event, "type": "rtcstream.output"})
            assert json.loads(await page.receive_from(timeout=5)) == {"type": "output", "seq": 1, "values": VALUES}
        finally:
            await page.disconnect()


def test_the_event_published_is_one_the_release_before_reads():
    """The release before the ``values_json`` name served an output event with
    ``protocol.output(event["seq"], event["values"])``, the values as JSON text: an event without
    "values" raised KeyError in its consumer, and the page lost the output."""
    event = output_event(7, values_json(VALUES))
    assert event["type"] == "output" and event["seq"] == 7
    assert isinstance(event["values"], str) and json.loads(event["values"]) == VALUES
