// Raw SIP texts for the HEP / SIP-event tests.
export interface ReqOpts {
  method: string;
  callId: string;
  cseq: number;
  from?: string;
  to?: string;
  ruri?: string;
  toTag?: string;
  ua?: string;
  auth?: string;
}

export function sipRequest(o: ReqOpts): string {
  const from = o.from ?? '1001';
  const to = o.to ?? from;
  const ruri = o.ruri ?? `sip:${o.method === 'REGISTER' ? '' : `${to}@`}127.0.0.1`;
  const lines = [
    `${o.method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-${o.callId}-${o.cseq}`,
    'Max-Forwards: 70',
    `From: <sip:${from}@127.0.0.1>;tag=f-${o.callId}`,
    `To: <sip:${to}@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
  ];
  if (o.ua) lines.push(`User-Agent: ${o.ua}`);
  if (o.auth) lines.push(`${o.method === 'REGISTER' ? 'Authorization' : 'Proxy-Authorization'}: Digest username="${o.auth}", realm="127.0.0.1", nonce="n", uri="sip:127.0.0.1", response="00000000000000000000000000000000"`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}

export function sipResponse(status: number, o: ReqOpts & { method: string }): string {
  const from = o.from ?? '1001';
  const to = o.to ?? from;
  return [
    `SIP/2.0 ${status} Reason`,
    `Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-${o.callId}-${o.cseq}`,
    `From: <sip:${from}@127.0.0.1>;tag=f-${o.callId}`,
    `To: <sip:${to}@127.0.0.1>;tag=t-${o.callId}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
