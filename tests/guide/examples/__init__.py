"""The six examples of the gradio-webrtc user guide (../shared/reference/gradio-webrtc-user-guide.txt).

Each module is one section of the guide, kept verbatim except its imports (gradio's
replaced by rtcstream's); the guide's ``...`` is filled minimally, and marked. The
guide's ``gr.Blocks`` UI is one entry in tests/guide/settings.py and one page in
tests/guide/templates/guide/.
"""
