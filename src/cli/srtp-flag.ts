// --srtp off|optional|required and the rendering of a result's SRTP counters,
// shared by `probe call` and `probe answer`.
import { SRTP_MODES, type SrtpMode } from '../config/srtp-keys.js';
import type { DirectionSrtp } from '../call/media-report.js';
import { UsageError } from './common.js';

export function parseSrtpMode(text: string | undefined): SrtpMode {
  const mode = (text ?? 'off').toLowerCase();
  if (!SRTP_MODES.includes(mode as SrtpMode)) throw new UsageError(`--srtp: "${text ?? ''}" is not off, optional or required`);
  return mode as SrtpMode;
}

/** "SRTP AES_CM_128_HMAC_SHA1_80: 149 authenticated, 1 auth failure, 1 replay" (null: plain RTP). */
export function renderSrtp(s: DirectionSrtp | null): string {
  if (s === null) return 'plain RTP (no SRTP)';
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  return (
    `SRTP ${s.suite}: ${s.packets_authenticated} authenticated, ${plural(s.auth_failures, 'auth failure', 'auth failures')}, ` +
    `${plural(s.replays, 'replay', 'replays')}${s.malformed > 0 ? `, ${s.malformed} malformed` : ''}`
  );
}
