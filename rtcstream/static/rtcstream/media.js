// The visitor's microphone or camera: constraints, opening, stopping.

import { StreamError, mediaError } from "./messages.js";

/** getUserMedia constraints for `kind` ("audio" or "video"), on `deviceId` if one was chosen. */
export function constraints(kind, deviceId) {
  const device = deviceId ? { exact: deviceId } : undefined;
  if (kind === "audio") return { deviceId: device, echoCancellation: true, noiseSuppression: true };
  return { deviceId: device, width: { ideal: 640 }, height: { ideal: 480 } };
}

export function deviceWord(kind) {
  return kind === "video" ? "camera" : "microphone";
}

/** Open the microphone or camera; a StreamError says why not. */
export async function openMedia(kind, deviceId) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new StreamError("insecure_context", `This page cannot use your ${deviceWord(kind)}: open it over HTTPS (or on localhost).`);
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ [kind]: constraints(kind, deviceId) });
  } catch (err) {
    throw mediaError(err, deviceWord(kind));
  }
}

export function stopTracks(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
