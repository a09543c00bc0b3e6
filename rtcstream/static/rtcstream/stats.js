// A small summary of RTCPeerConnection.getStats(): packets and bytes per kind and direction.

function blank() {
  return { packets: 0, bytes: 0, frames: 0, energy: 0 };
}

/** Return {audio: {sent, received}, video: {sent, received}}; zeros without a connection. Never rejects. */
export async function summarize(pc) {
  const out = { audio: { sent: blank(), received: blank() }, video: { sent: blank(), received: blank() } };
  if (!pc) return out;
  let report;
  try {
    report = await pc.getStats();
  } catch {
    return out; // the connection closed meanwhile (Stop): it has nothing more to count
  }
  report.forEach((s) => {
    const kind = s.kind ?? s.mediaType;
    if (kind !== "audio" && kind !== "video") return;
    if (s.type === "outbound-rtp") {
      const t = out[kind].sent;
      t.packets += s.packetsSent ?? 0;
      t.bytes += s.bytesSent ?? 0;
      t.frames += s.framesEncoded ?? 0;
    } else if (s.type === "inbound-rtp") {
      const t = out[kind].received;
      t.packets += s.packetsReceived ?? 0;
      t.bytes += s.bytesReceived ?? 0;
      t.frames += s.framesDecoded ?? 0;
      t.energy += s.totalAudioEnergy ?? 0;
    }
  });
  return out;
}
