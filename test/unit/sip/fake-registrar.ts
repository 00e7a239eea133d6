// A tiny UDP registrar for unit tests: challenges REGISTER with 401 (MD5, qop=auth),
// checks the digest with computeDigestResponse, answers 200 with the binding.
import dgram from 'node:dgram';
import { computeDigestResponse, parseAuthParams } from '../../../src/sip/digest.js';
import { createResponse, parseMessage, serializeMessage, type SipRequest } from '../../../src/sip/message.js';

export interface FakeRegistrar {
  port: number;
  /** Every request received, in order. */
  requests: SipRequest[];
  close(): void;
}

export async function startFakeRegistrar(users: Record<string, string>, realm = '127.0.0.1', opts: { staleOnce?: boolean } = {}): Promise<FakeRegistrar> {
  const socket = dgram.createSocket('udp4');
  const requests: SipRequest[] = [];
  let nonce = 'abc123nonce';
  let staleSent = false;
  socket.on('message', (data, rinfo) => {
    const r = parseMessage(data);
    if (!r.ok || r.message.kind !== 'request') return;
    const req = r.message;
    requests.push(req);
    const send = (status: number, headers: Array<[string, string]> = []): void => {
      const res = createResponse(req, status, undefined, { toTag: 'reg1', headers });
      socket.send(serializeMessage(res), rinfo.port, rinfo.address);
    };
    if (req.method !== 'REGISTER') return send(200);
    const auth = req.headers.get('authorization');
    const challenge: Array<[string, string]> = [['WWW-Authenticate', `Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm=MD5`]];
    if (!auth) return send(401, challenge);
    if (opts.staleOnce && !staleSent) {
      // The nonce expired: ask again with a fresh one (RFC 2617 §3.2.1 stale=true).
      staleSent = true;
      nonce = 'fresh456nonce';
      return send(401, [['WWW-Authenticate', `Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm=MD5, stale=true`]]);
    }
    const p = parseAuthParams(auth.replace(/^Digest\s+/i, ''));
    const user = p?.get('username') ?? '';
    const password = users[user];
    const expected =
      password === undefined
        ? 'x'
        : computeDigestResponse({
            algorithm: 'MD5',
            username: user,
            realm,
            password,
            method: 'REGISTER',
            uri: p?.get('uri') ?? '',
            nonce,
            qop: 'auth',
            nc: p?.get('nc') ?? '',
            cnonce: p?.get('cnonce') ?? '',
          });
    if (p?.get('response') !== expected) return send(401, challenge);
    const contact = req.headers.get('contact') ?? '';
    const expires = req.headers.get('expires') ?? '3600';
    return send(200, contact === '*' ? [] : [['Contact', contact.replace(/;expires=\d+/, '') + `;expires=${expires}`]]);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, requests, close: () => socket.close() };
}

/** A UDP relay to `target` that drops the first `drop` datagrams from the client, recording arrival times. */
export async function startDropProxy(targetPort: number, drop = 1): Promise<{ port: number; arrivals: number[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const arrivals: number[] = [];
  let client: dgram.RemoteInfo | undefined;
  let dropped = 0;
  socket.on('message', (data, rinfo) => {
    if (rinfo.port === targetPort) {
      if (client) socket.send(data, client.port, client.address);
      return;
    }
    client = rinfo;
    arrivals.push(performance.now());
    if (dropped < drop) {
      dropped++;
      return;
    }
    socket.send(data, targetPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, arrivals, close: () => socket.close() };
}
