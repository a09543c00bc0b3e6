// TURN failures in words a site owner can act on.
//
// A TURN server that refuses the credentials the server minted for this session
// (a wrong RTCSTREAM["TURN"] secret, or credentials past their ttl) answers 401;
// the browser reports it as an icecandidateerror and gathers no relay candidate.
// With iceTransportPolicy "relay" nothing else can connect, so the widget says
// so as soon as gathering ends instead of waiting for ICE to time out.

/** Describe an icecandidateerror from a TURN server, or return null for other servers. */
export function turnErrorText(ev) {
  if (!/^turns?:/.test(ev.url || "")) return null;
  if (ev.errorCode === 401) {
    return `The TURN server (${ev.url}) refused this session's credentials (401 ${ev.errorText || "Unauthorized"}): they are wrong or expired. Check RTCSTREAM["TURN"]["secret"] against the TURN server's static-auth-secret, and the clocks of both machines.`;
  }
  return `The TURN server (${ev.url}) could not be used (${ev.errorCode} ${ev.errorText || ""}).`;
}

/**
 * Watch `pc` for TURN errors. `fail(code, message)` is called once when a
 * relay-only connection cannot gather a relay candidate. Returns a function
 * that gives the last TURN error text (or null), for the message shown when
 * the connection fails later.
 */
export function watchTurn(pc, policy, fail) {
  let error = null;
  let relayFound = false;
  pc.addEventListener("icecandidateerror", (ev) => {
    error = turnErrorText(ev) || error;
  });
  pc.addEventListener("icecandidate", (ev) => {
    if (ev.candidate?.candidate?.includes(" typ relay")) relayFound = true;
    if (!ev.candidate && policy === "relay" && !relayFound) {
      fail("turn_failed", error || "No TURN server gave this browser a relay address, and this site allows relayed connections only.");
    }
  });
  return () => error;
}
