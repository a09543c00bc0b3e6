"""Speech to text and text to speech for handlers, in FastRTC's shapes, with engines that need no
download: ``get_stt_model()`` (``model.stt((rate, samples)) -> str``) and ``get_tts_model()``
(``model.tts(text)``, ``model.stream_tts_sync(text)``, ``async model.stream_tts(text)``).

FastRTC's own engines (Moonshine, Kokoro) fetch their models from the Hugging Face hub on first
use; rtcstream ships engines whose models come with a package: PocketSphinx's wheel (its US
English model) and Debian's espeak-ng. Both are small and plain-sounding; they make a voice
pipeline work end to end, and anything with the same methods takes their place.
"""

from rtcstream.speech.decoder_process import DecoderProcessError
from rtcstream.speech.engines import SpeechModelUnavailable
from rtcstream.speech.stt import PocketSphinxSTT, STTModel, get_stt_model
from rtcstream.speech.tts import EspeakTTS, EspeakTTSOptions, TTSModel, TTSOptions, get_tts_model

__all__ = [
    "DecoderProcessError",
    "EspeakTTS",
    "EspeakTTSOptions",
    "PocketSphinxSTT",
    "STTModel",
    "SpeechModelUnavailable",
    "TTSModel",
    "TTSOptions",
    "get_stt_model",
    "get_tts_model",
]
