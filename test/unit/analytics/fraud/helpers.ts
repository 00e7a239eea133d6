import type { AuthFailureEvent, CallAttemptEvent, CallEndEvent, CallFinalEvent, RequestEvent } from '../../../../src/analytics/events.js';

export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0); // a Monday, 12:00 UTC

export function authFail(at: number, ip = '192.0.2.1', user = '1001', ua = 'friendly-scanner'): AuthFailureEvent {
  return { type: 'auth_failure', source: 'test', at, ip, user, ua, method: 'REGISTER' };
}
export function request(at: number, user: string, status: number, method = 'REGISTER', ip = '192.0.2.1', ua = 'x'): RequestEvent {
  return { type: 'request', source: 'test', at, ip, user, status, method, ua };
}
export function attempt(at: number, callId: string, caller: string, callee: string, extra: Partial<CallAttemptEvent> = {}): CallAttemptEvent {
  return { type: 'call_attempt', source: 'test', at, callId, caller, callee, ip: '192.0.2.9', ...extra };
}
export function final(at: number, callId: string, status: number, extra: Partial<CallFinalEvent> = {}): CallFinalEvent {
  return { type: 'call_final', source: 'test', at, callId, status, inviteAt: at, ...extra };
}
export function end(at: number, callId: string, durationS: number, extra: Partial<CallEndEvent> = {}): CallEndEvent {
  return { type: 'call_end', source: 'test', at, callId, durationS, answerAt: at - durationS * 1000, ...extra };
}
