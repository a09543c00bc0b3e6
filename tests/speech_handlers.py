"""A voice echo written the way FastRTC's docs write one, with rtcstream's imports: hear the
words, show them, say them back (rtcstream.speech's models, made at import as FastRTC's are)."""

from rtcstream import AdditionalOutputs, ReplyOnPause, get_stt_model, get_tts_model

stt_model = get_stt_model()
tts_model = get_tts_model()


def echo(audio):
    prompt = stt_model.stt(audio)
    yield AdditionalOutputs(prompt)
    for audio_chunk in tts_model.stream_tts_sync(prompt or "I did not hear you."):  # noqa: UP028 (as FastRTC writes it)
        yield audio_chunk


handler = ReplyOnPause(echo)
