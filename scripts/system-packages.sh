#!/usr/bin/env bash
# Install the Debian packages the test suite and the demo use, if any is missing:
# chromium and firefox-esr (browser tests; Firefox records from and plays into a private PulseAudio:
# pulseaudio, and pulseaudio-utils for paplay, pacat and pactl), espeak-ng and sox (speech fixtures and the demo's voice),
# redis-server and postgresql (the tests of several workers start private ones),
# iproute2 (the several-hosts test builds hosts in network namespaces).
# coturn (the TURN tests run a real turnserver on loopback).
# Recordings of real people for the turn-taking tests and benches (tests/speech_real.py): Asterisk's English
# prompts (16 kHz G.722, CC-BY-SA-3.0) and their transcripts, and alsa-utils' spoken channel names (GPL-2).
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v firefox-esr >/dev/null || missing+=(firefox-esr)
command -v pulseaudio >/dev/null || missing+=(pulseaudio)
command -v paplay >/dev/null || missing+=(pulseaudio-utils)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v ip >/dev/null || missing+=(iproute2)
command -v turnserver >/dev/null || missing+=(coturn)
[ -f /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz ] || missing+=(asterisk-core-sounds-en)
[ -f /usr/share/asterisk/sounds/en_US_f_Allison/vm-tomakecall.g722 ] || missing+=(asterisk-core-sounds-en-g722)
[ -f /usr/share/sounds/alsa/Front_Left.wav ] || missing+=(alsa-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "Please install: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
