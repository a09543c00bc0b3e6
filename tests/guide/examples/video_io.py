"""User guide › Video Streaming › Input/Output Streaming.

The guide's ``... your detection code here ...`` is filled minimally: a
"detection" box, filled red, across the top of the frame, as tall as
``conf_threshold`` of the frame's height (so the slider shows in the output).
"""

import cv2


def detection(image, conf_threshold=0.3):  # (1)
    modified_frame = image.copy()  # the guide's "... your detection code here ..."
    height, width = image.shape[:2]
    cv2.rectangle(modified_frame, (0, 0), (width - 1, int(height * conf_threshold)), (0, 0, 255), -1)
    return modified_frame  # (2)
