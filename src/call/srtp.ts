// SRTP for test calls: SDES (RFC 4568) key exchange in the offer/answer, per
// the probe's `media.srtp` mode. Pure: decides profiles, crypto lines and keys;
// rtp/srtp-socket.ts applies the keys to the sockets.
//
//   off       plain RTP/AVP offer; an RTP/SAVP offer is refused (488), a=crypto
//             in an RTP/AVP offer is ignored.
//   optional  RTP/AVP offer carrying a=crypto ("best-effort SRTP", what many
//             PBXs send): SRTP when the answer takes a key, plain otherwise.
//             As answerer: SRTP when the offer carries a usable key.
//   required  RTP/SAVP offer; an answer without a usable key fails the call.
//             As answerer: an offer without a usable key is refused (488).
//
// Keys travel in the SDP, so they are only sent over TLS signalling unless the
// operator explicitly allows otherwise (config/srtp-keys.ts).
import { newSdesCrypto, SRTP_SUITES, type SdesCrypto } from '../rtp/srtp.js';
import type { SrtpKeys } from '../rtp/srtp-socket.js';
import type { MediaEndpoint, MediaSecurity } from './sdp.js';
import type { SrtpMode } from '../config/srtp-keys.js';


/** What our offer carries (one fresh key per suite, _80 first), or undefined for a plain offer. */
export function srtpOffer(mode: SrtpMode): MediaSecurity | undefined {
  if (mode === 'off') return undefined;
  return {
    profile: mode === 'required' ? 'RTP/SAVP' : 'RTP/AVP',
    crypto: SRTP_SUITES.map((suite, i) => newSdesCrypto(i + 1, suite)),
  };
}

function isSecureProfile(profile: string | undefined): boolean {
  return profile !== undefined && /SAVP/.test(profile);
}

export type SrtpAnswerOutcome = { ok: true; keys?: SrtpKeys } | { ok: false; message: string };

/** The keys our offer and the peer's answer agreed on; a failure when `required` got none. */
export function acceptSrtpAnswer(mode: SrtpMode, offered: MediaSecurity | undefined, answer: MediaEndpoint): SrtpAnswerOutcome {
  if (!offered) {
    if (isSecureProfile(answer.profile)) return { ok: false, message: `the answer is ${answer.profile ?? ''} although we offered plain RTP/AVP (media.srtp: off)` };
    return { ok: true };
  }
  for (const theirs of answer.crypto ?? []) {
    const ours = offered.crypto.find((c) => c.tag === theirs.tag && c.suite === theirs.suite);
    if (ours) return { ok: true, keys: { suite: ours.suite, local: ours.key, remote: theirs.key } };
  }
  if (mode === 'required') {
    const got = (answer.crypto ?? []).map((c) => `${c.tag} ${c.suite}`).join(', ');
    return {
      ok: false,
      message: `srtp required but the answer (${answer.profile ?? 'no profile'}) accepted none of our SDES keys (${offered.crypto.map((c) => `${c.tag} ${c.suite}`).join(', ')})${got ? `; it named ${got}` : ''}`,
    };
  }
  if (isSecureProfile(answer.profile)) return { ok: false, message: `the answer is ${answer.profile ?? ''} without a usable a=crypto key` };
  return { ok: true };
}

export type SrtpOfferOutcome = { ok: true; security?: MediaSecurity; keys?: SrtpKeys } | { ok: false; message: string };

/** How we answer an offer: the profile and our key for the first usable crypto line, plain, or a refusal (488). */
export function answerSrtpOffer(mode: SrtpMode, offer: MediaEndpoint): SrtpOfferOutcome {
  const secure = isSecureProfile(offer.profile);
  const theirs: SdesCrypto | undefined = offer.crypto?.[0];
  if (mode === 'off') {
    if (secure) return { ok: false, message: `offer is ${offer.profile ?? ''} (SRTP) and media.srtp is off` };
    return { ok: true };
  }
  if (!theirs) {
    if (mode === 'required') return { ok: false, message: `srtp required but the offer (${offer.profile ?? 'no profile'}) carries no usable SDES key (AES_CM_128_HMAC_SHA1_80/_32)` };
    if (secure) return { ok: false, message: `offer is ${offer.profile ?? ''} without a usable a=crypto key` };
    return { ok: true };
  }
  const ours = newSdesCrypto(theirs.tag, theirs.suite);
  return {
    ok: true,
    security: { profile: offer.profile ?? 'RTP/SAVP', crypto: [ours] },
    keys: { suite: theirs.suite, local: ours.key, remote: theirs.key },
  };
}
