"""Phone calls through Twilio Media Streams: the incoming-call webhook (``views``), its stream
URL's one-time token (``tokens``), the stream's messages (``messages``), its consumer, and the
middleware that routes it (``routing``). docs/guide.md, "Phone calls (Twilio)"."""
