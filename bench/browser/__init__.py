"""The browser bench: Chromium on the demo page and on FastRTC, measured from inside the page."""
