"""The gradio-webrtc user guide as a conformance suite: its six examples, run in Chromium."""
