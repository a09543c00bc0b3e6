"""User guide › Video Streaming › Server-to-Client Only.

Verbatim except ``url``: the guide streams a remote mp4; this reads a local
clip that the test writes into the server's working directory
(tests/guide/conftest.py), since the suite has no internet.
"""

import cv2


def generation():
    url = "clip.avi"
    cap = cv2.VideoCapture(url)
    iterating = True
    while iterating:
        iterating, frame = cap.read()
        yield frame  # (1)
