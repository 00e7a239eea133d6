// A UDP registrar that keeps bindings (RFC 3261 §10.3, no auth), for the
// unregister tests: a query (no Contact) lists the bindings; `*` with Expires 0
// removes all; a Contact with expires=0 removes the binding with that URI.
// `instanceMatching` behaves like Kamailio's usrloc: a Contact carrying a
// +sip.instance already bound replaces (or removes) that binding whatever its URI.
// `echoInstance: false` lists bare URIs, like registrars that drop the parameter.
import dgram from 'node:dgram';
import { createResponse, parseMessage, serializeMessage, type SipRequest } from '../../../src/sip/message.js';
import { parseNameAddr } from '../../../src/sip/uri.js';

export interface StoredBinding {
  uri: string;
  expires: number;
  instance?: string;
}

export interface BindingRegistrarOptions {
  instanceMatching?: boolean;
  echoInstance?: boolean;
  /** A broken registrar: answers 200 to expires=0 but keeps the binding. */
  ignoreRemoval?: boolean;
}

export interface BindingRegistrar {
  port: number;
  requests: SipRequest[];
  /** Bindings by AOR user part. */
  bindings: Map<string, StoredBinding[]>;
  bind(user: string, b: StoredBinding): void;
  close(): void;
}

export async function startBindingRegistrar(opts: BindingRegistrarOptions = {}): Promise<BindingRegistrar> {
  const socket = dgram.createSocket('udp4');
  const requests: SipRequest[] = [];
  const bindings = new Map<string, StoredBinding[]>();
  const listFor = (user: string): StoredBinding[] => {
    let l = bindings.get(user);
    if (!l) bindings.set(user, (l = []));
    return l;
  };
  socket.on('message', (data, rinfo) => {
    const r = parseMessage(data);
    if (!r.ok || r.message.kind !== 'request') return;
    const req = r.message;
    requests.push(req);
    const user = req.to?.uri.user ?? '';
    const list = listFor(user);
    const headerExpires = Number(req.headers.get('expires') ?? '3600');
    for (const value of req.headers.getAll('contact')) {
      if (value.trim() === '*') {
        if (headerExpires === 0 && !opts.ignoreRemoval) list.length = 0;
        continue;
      }
      const na = parseNameAddr(value);
      if (!na) continue;
      const uri = /<([^>]*)>/.exec(value)?.[1] ?? '';
      const e = na.params.expires;
      const expires = typeof e === 'string' ? Number(e) : headerExpires;
      const inst = na.params['+sip.instance'];
      const instance = typeof inst === 'string' ? inst : undefined;
      const i = list.findIndex((b) => b.uri === uri || (opts.instanceMatching === true && instance !== undefined && b.instance === instance));
      if (expires === 0) {
        if (i >= 0 && !opts.ignoreRemoval) list.splice(i, 1);
        continue;
      }
      const b: StoredBinding = { uri, expires, ...(instance !== undefined ? { instance } : {}) };
      if (i >= 0) list[i] = b;
      else list.push(b);
    }
    const contacts: Array<[string, string]> = list.map((b) => [
      'Contact',
      `<${b.uri}>;expires=${b.expires}${b.instance !== undefined && opts.echoInstance !== false ? `;+sip.instance="${b.instance}"` : ''}`,
    ]);
    const res = createResponse(req, 200, undefined, { toTag: 'reg1', headers: contacts });
    socket.send(serializeMessage(res), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    requests,
    bindings,
    bind: (user, b) => void listFor(user).push(b),
    close: () => socket.close(),
  };
}
