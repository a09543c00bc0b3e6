// The visitor's microphone or camera: constraints, opening, stopping.

import { StreamError, mediaError } from "./messages.js";

/** The kinds of track a modality carries: "audio-video" carries both. */
export function kindsOf(modality) {
  return modality === "audio-video" ? ["audio", "video"] : [modality];
}

/** getUserMedia constraints for `kind` ("audio" or "video"), on `deviceId` if one was chosen. */
export function constraints(kind, deviceId) {
  const device = deviceId ? { exact: deviceId } : undefined;
  if (kind === "audio") return { deviceId: device, echoCancellation: true, noiseSuppression: true };
  return { deviceId: device, width: { ideal: 640 }, height: { ideal: 480 } };
}

/** How messages name the devices of a kind or modality. */
export function deviceWord(kind) {
  return kindsOf(kind).map((k) => (k === "video" ? "camera" : "microphone")).join(" and ");
}

/**
 * Open the devices of `modality` ("audio", "video", or both for "audio-video") in one
 * request, each with its own constraints (`preferred[kind]`: a chosen device); a
 * StreamError says why not.
 */
export async function openMedia(modality, preferred = {}) {
  const word = deviceWord(modality);
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new StreamError("insecure_context", `This page cannot use your ${word}: open it over HTTPS (or on localhost).`);
  }
  const wanted = Object.fromEntries(kindsOf(modality).map((kind) => [kind, constraints(kind, preferred[kind])]));
  try {
    return await navigator.mediaDevices.getUserMedia(wanted);
  } catch (err) {
    throw mediaError(err, word);
  }
}

export function stopTracks(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
