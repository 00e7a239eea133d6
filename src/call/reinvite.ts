// A far end's re-INVITE in an established test call, answered per RFC 3264 §8
// and applied to our media, the same way on every leg we hold (the call probe's
// caller, the answerer behind the call probe, `probe answer` and scenarios):
// - our answer is our last SDP with the direction mirrored (hold: sendonly →
//   recvonly, inactive → inactive; unhold → sendrecv), the o= version raised only
//   when the SDP changed (a session refresh gets the identical SDP back);
// - a new c= address or m= port in the offer is where our RTP goes from now on;
// - while held we do not send, and the far end's silence is no media timeout.
import type { RtpSession } from '../rtp/session.js';
import type { Dialog, ReinviteRequest } from '../sip/dialog.js';
import { answerReoffer, isSdpError, parseMediaEndpoint } from './sdp.js';

/** Answers one re-INVITE of `dialog` for `session`. `mayResume` false: the call's media phase is over, never restart sending. */
export function answerReinvite(dialog: Dialog, session: RtpSession, req: ReinviteRequest, mayResume: () => boolean = () => true): void {
  const body = req.request.body.toString();
  // No offer in the re-INVITE (RFC 3261 §14.2): the 200 carries ours as the offer, unchanged.
  if (body.trim() === '') return req.respond(200);
  const offer = parseMediaEndpoint(body, [session.codec]);
  if (isSdpError(offer)) return req.respond(488);
  req.respond(200, answerReoffer(dialog.localSdp ?? '', offer.direction));
  session.redirect({ address: offer.address, port: offer.port });
  if (offer.direction === 'sendonly' || offer.direction === 'inactive') session.stop();
  else if (mayResume()) session.start();
  // a far end that holds the call may go silent on purpose: not a media timeout
  if (offer.direction === 'sendrecv') session.expectMedia();
  else session.expectSilence();
}
