"""Video sessions end to end: processed camera video and generated video."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rtcstream.client import ArrayVideoTrack, RtcClient
from tests.handlers import TracedFrame

pytestmark = [pytest.mark.django_db(transaction=True)]


def gradient(index: int) -> np.ndarray:
    """A 160x120 RGB frame (the client's order, as a browser shows it): red rises left to right,
    green is 200, blue is 40."""
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[:, :, 0] = np.linspace(0, 255, 160, dtype=np.uint8)[None, :]
    frame[:, :, 1] = 200
    frame[:, :, 2] = 40
    return frame


def mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


async def test_video_function_inverts_colours_and_follows_inputs(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-invert") as client:
        assert client.session["modality"] == "video"
        await client.start(video=ArrayVideoTrack(gradient), inputs=["invert"])
        video = await client.wait_for_video(frames=20, timeout=15)
        green, blue = mean_rgb(video.frames[-1][1])[1:]
        # Inverted: green 255-200=55, blue 255-40=215 (VP8 shifts values a little).
        assert abs(green - 55) < 12 and abs(blue - 215) < 12, (green, blue)
        await client.set_inputs("identity")
        seen = video.count
        await client.wait_until(lambda: video.count >= seen + 20, timeout=15)
        green, blue = mean_rgb(video.frames[-1][1])[1:]
        assert abs(green - 200) < 12 and abs(blue - 40) < 12, (green, blue)


@pytest.mark.parametrize(
    ("endpoint", "camera"), [("t-traced-invert", True), ("t-traced-colors", False), ("t-av-traced", True)]
)
async def test_a_handlers_frames_become_video_frames_off_the_event_loop(asgi_app, endpoint, camera):
    """A video function's, an async generator's and an async audio-video handler's frames are
    converted in the worker pool (the function's in the thread that called it), as camera frames
    are: at camera rate and full size, conversions on the loop would hold every other session's
    media back."""
    TracedFrame.sliced_on.clear()
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(video=ArrayVideoTrack(gradient) if camera else None)
        await client.wait_for_video(frames=10, timeout=15)
    assert set(TracedFrame.sliced_on) == {"pool"}


def numbered(index: int) -> np.ndarray:
    """A 128x96 frame showing ``index`` in binary: 8 columns, white for a set bit."""
    frame = np.zeros((96, 128, 3), dtype=np.uint8)
    for bit in range(8):
        if index >> bit & 1:
            frame[:, bit * 16 : (bit + 1) * 16] = 255
    return frame


def read_number(frame: np.ndarray, inverted: bool) -> int:
    columns = frame[:, :, 0].reshape(frame.shape[0], 8, -1).mean(axis=(0, 2))
    bits = columns < 127 if inverted else columns > 127
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


async def test_a_slow_video_function_drops_stale_frames_instead_of_lagging(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-slow-invert") as client:
        camera = ArrayVideoTrack(numbered)
        await client.start(video=camera)
        video = await client.wait_for_video(frames=3, timeout=15)
        # The function takes 0.2 s a frame against a 30 fps camera: about 5 frames a second come back.
        start, count = time.monotonic(), video.count
        await client.wait_until(lambda: time.monotonic() - start > 3.0 and video.count > count, timeout=10)
        rate = (video.count - count) / (time.monotonic() - start)
        assert 2 <= rate <= 8, rate
        # Latency does not accumulate: the frame shown lags the camera by one 0.2 s call, one
        # waiting frame and the network, and no more 3 s later. A queue would fall ~24 frames
        # behind every second (30 in, 5 out).
        early = (camera.index - read_number(video.frames[-1][1], inverted=True)) % 256
        later_start, later_count = time.monotonic(), video.count
        await client.wait_until(lambda: time.monotonic() - later_start > 3.0 and video.count > later_count, timeout=10)
        later = (camera.index - read_number(video.frames[-1][1], inverted=True)) % 256
        assert early <= 30 and later <= 30, (early, later)  # under a second, on a busy machine too
        assert later <= early + 8, (early, later)  # not growing


async def generated(asgi_app, endpoint: str) -> tuple[list[tuple[float, np.ndarray]], int]:
    """Receive a receive-mode generator's video to its end: (arrival time, frame) pairs kept, and the count."""
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start()
        closed = await client.wait_closed(timeout=15)
        assert closed["reason"] == "stream_ended"
        return list(client.video.frames), client.video.count


async def test_generated_video_arrives_paced_and_the_session_ends_with_the_stream(asgi_app):
    frames, count = await generated(asgi_app, "t-colors")
    assert count >= 50
    duration = frames[-1][0] - frames[0][0]
    assert 1.4 < duration < 2.6, duration  # 60 frames at 30 fps
    colours = [int(np.argmax(mean_rgb(f))) for _, f in frames]
    # The generator yields BGR red, green, blue: the client sees them in that order.
    assert colours[0] == 0 and colours[-1] == 2 and 1 in colours, colours


def pure_red(index: int) -> np.ndarray:
    frame = np.zeros((96, 128, 3), dtype=np.uint8)
    frame[..., 0] = 255  # RGB, as the camera and the screen have it
    return frame


@pytest.mark.parametrize(("endpoint", "seen"), [("t-channels", [0, 0, 255]), ("t-channels-rgb", [255, 0, 0])])
async def test_video_functions_get_bgr_frames_unless_the_entry_says_rgb(asgi_app, endpoint, seen):
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(video=ArrayVideoTrack(pure_red))
        video = await client.wait_for_video(frames=10, timeout=15)
        outputs = await client.wait_for_outputs(5)
        # VP8 is 4:2:0 YUV: pure colours come back within a few dozen levels.
        assert np.allclose(outputs[-1]["values"][0], seen, atol=40), outputs[-1]["values"]
        red, green, blue = mean_rgb(video.frames[-1][1])
        assert red > 200 and green < 60 and blue < 60, (red, green, blue)


async def test_a_generator_with_color_rgb_yields_rgb_frames(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-colors-rgb") as client:
        await client.start()
        await client.wait_closed(timeout=15)
        colours = [int(np.argmax(mean_rgb(f))) for _, f in client.video.frames]
        assert colours[0] == 2 and colours[-1] == 0, colours  # the same arrays read as RGB: blue first


async def test_a_video_function_returning_garbage_ends_its_session_with_an_error(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-bad-video") as client:
        await client.start(video=ArrayVideoTrack(gradient))
        error = await client.wait_for_message("error", timeout=15)
        assert error["code"] == "handler_error" and "uint8" in error["message"]
        closed = await client.wait_closed()
        assert closed["reason"] == "handler_error"


async def test_the_outputs_beside_a_bad_frame_are_published_before_the_session_ends(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-bad-video-outputs") as client:
        await client.start(video=ArrayVideoTrack(gradient))
        error = await client.wait_for_message("error", timeout=15)
        assert error["code"] == "handler_error" and "uint8" in error["message"]
        assert (await client.wait_closed())["reason"] == "handler_error"
        (published,) = await client.wait_for_outputs(1, timeout=5)  # on its own socket: may come after the error
        assert published["values"] == ["seen", gradient(0).shape[1]], published


def top_white(index: int) -> np.ndarray:
    frame = np.zeros((96, 128, 3), dtype=np.uint8)
    frame[:48] = 255
    return frame


async def test_fastrtc_video_stream_handler_with_skip_frames_as_its_guide_writes_it(asgi_app):
    """VideoStreamHandler(process_image, skip_frames=True) in a Stream: the slow function's frames come back
    flipped, about five a second against a 30 fps camera (the newest frame each time, none queued)."""
    async with await RtcClient.connect(asgi_app, "t-video-skip") as client:
        assert (client.session["mode"], client.session["modality"]) == ("send-receive", "video")
        await client.start(video=ArrayVideoTrack(top_white))
        video = await client.wait_for_video(frames=3, timeout=15)
        frame = video.frames[-1][1]
        assert frame[:40].mean() < 30 and frame[-40:].mean() > 225  # np.flip(image, axis=0): white at the bottom
        start, count = time.monotonic(), video.count
        await client.wait_until(lambda: time.monotonic() - start > 3.0 and video.count > count, timeout=10)
        rate = (video.count - count) / (time.monotonic() - start)
        assert 2 <= rate <= 8, rate


async def test_fastrtc_video_stream_handler_fps_paces_a_generator(asgi_app):
    """VideoStreamHandler(generation, fps=60) in mode "receive": 90 frames take 1.5 s, not 30 fps's 3 s."""
    frames, count = await generated(asgi_app, "t-video-fps")
    duration = frames[-1][0] - frames[0][0]
    print(f"90 frames at fps=60: {count} arrived over {duration:.2f} s")
    assert count >= 60, count  # a loaded encoder may drop a few
    assert 1.0 < duration < 2.6, duration  # at the default 30 fps they take 3 s
