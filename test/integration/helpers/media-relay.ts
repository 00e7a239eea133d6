// A tiny SIP + RTP relay for crossed-media tests (issue 18): one relay per call, each a
// SIP front socket (the caller dials it) and back socket (towards the far end) on
// ephemeral 127.0.0.1 ports, plus two RTP/RTCP port pairs it writes into the SDP (the
// offer's m= port becomes the relay's callee-facing pair, the answer's its caller-facing
// pair). Nothing else of SIP is touched: in-dialog requests (ACK, BYE) follow the Contact
// straight to the other end. Media then goes through the relay: straight (to the same
// call's other end) or, for a crossed group, to the *other* call's other end, both ways:
// caller A's RTP reaches callee B from the pair B's callee knows as its caller, and so on.
// With `syncAnswers` the 200 OKs of a group are held until every call of the group has
// one, so the calls' media start together (a crossed stream needs its partner's far end).
import dgram from 'node:dgram';

const HOST = '127.0.0.1';

interface Pair {
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  port: number;
}

interface Leg {
  /** Relay pair facing this end (its SDP names it). */
  pair: Pair;
  /** The end's own RTP port (from its SDP); RTCP is port + 1. */
  port?: number;
}

export interface RelayedCall {
  /** `sip:<user>@127.0.0.1:<front port>`: what the caller dials (`--direct`). */
  uri(user: string): string;
  /** Packets forwarded from the caller's and from the callee's RTP, and dropped (no target yet). */
  readonly counts: { fromCaller: number; fromCallee: number; dropped: number };
}

export interface RelayGroup {
  calls: RelayedCall[];
  close(): void;
}

function bind(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, HOST, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** An even RTP port with its odd RTCP neighbour, both bound (ephemeral range). */
async function bindPair(): Promise<Pair> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const rtp = await bind(0);
    const port = rtp.address().port;
    if (port % 2 === 0) {
      const rtcp = await bind(port + 1).catch(() => undefined);
      if (rtcp) return { rtp, rtcp, port };
    }
    rtp.close();
  }
  throw new Error('no even/odd UDP port pair free on 127.0.0.1');
}

/** Replaces the m=audio port and fixes Content-Length; undefined when the message has no SDP. */
function rewriteSdp(text: string, newPort: number): { text: string; oldPort: number } | undefined {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return undefined;
  const head = text.slice(0, split);
  const body = text.slice(split + 4);
  const m = /^m=audio (\d+) /m.exec(body);
  if (!m) return undefined;
  const newBody = body.replace(/^m=audio \d+ /m, `m=audio ${newPort} `).replace(/^a=rtcp:\d+/m, `a=rtcp:${newPort + 1}`);
  const newHead = head.replace(/^(Content-Length|l)\s*:\s*\d+/im, (_all, name: string) => `${name}: ${Buffer.byteLength(newBody)}`);
  return { text: `${newHead}\r\n\r\n${newBody}`, oldPort: Number(m[1]) };
}

/**
 * `n` relayed calls to `target` (host:port of the far end's SIP). `crossed`: the media of
 * call i goes to call (i+1) mod n's other end (n = 2: a swap).
 */
export async function startRelayGroup(target: { address: string; port: number }, n: number, opts: { crossed: boolean; syncAnswers?: boolean }): Promise<RelayGroup> {
  const sockets: dgram.Socket[] = [];
  const legs: Array<{ caller: Leg; callee: Leg }> = [];
  const calls: RelayedCall[] = [];
  const held: Array<(() => void) | undefined> = [];
  let released = !opts.syncAnswers;
  for (let i = 0; i < n; i++) {
    const front = await bind(0);
    const back = await bind(0);
    const caller: Leg = { pair: await bindPair() };
    const callee: Leg = { pair: await bindPair() };
    sockets.push(front, back, caller.pair.rtp, caller.pair.rtcp, callee.pair.rtp, callee.pair.rtcp);
    legs.push({ caller, callee });
    const counts = { fromCaller: 0, fromCallee: 0, dropped: 0 };
    let callerSip: { address: string; port: number } | undefined;
    front.on('message', (data, from) => {
      callerSip = { address: from.address, port: from.port };
      let text = data.toString('latin1');
      // the offer: the callee is to send to our callee-facing pair
      const r = /^INVITE /.test(text) ? rewriteSdp(text, callee.pair.port) : undefined;
      if (r) {
        caller.port = r.oldPort;
        text = r.text;
      }
      back.send(Buffer.from(text, 'latin1'), target.port, target.address);
    });
    back.on('message', (data) => {
      let text = data.toString('latin1');
      const isAnswer = /^SIP\/2\.0 200 /.test(text) && /^CSeq:\s*\d+ INVITE/im.test(text);
      const r = isAnswer ? rewriteSdp(text, caller.pair.port) : undefined;
      if (r) {
        callee.port = r.oldPort;
        text = r.text;
      }
      const send = (): void => {
        if (callerSip) front.send(Buffer.from(text, 'latin1'), callerSip.port, callerSip.address);
      };
      if (r && !released) {
        held[i] = send; // the latest retransmission replaces the earlier one
        if (held.filter(Boolean).length === n) {
          released = true;
          for (const h of held) h?.();
        }
        return;
      }
      send();
    });
    calls.push({ uri: (user) => `sip:${user}@${HOST}:${front.address().port}`, counts });
  }
  // media: from caller i (on its caller-facing pair) to the callee of call j, from the
  // callee-facing pair of call j (the pair that callee was told is its caller), and back
  const partner = (i: number): number => (opts.crossed ? (i + 1) % n : i);
  const from = (j: number): number => (opts.crossed ? (j - 1 + n) % n : j);
  legs.forEach(({ caller, callee }, i) => {
    const counts = calls[i]?.counts;
    if (!counts) return;
    for (const rtcp of [false, true]) {
      const toCallee = legs[partner(i)]?.callee;
      (rtcp ? caller.pair.rtcp : caller.pair.rtp).on('message', (data) => {
        if (!rtcp) counts.fromCaller++;
        if (!toCallee?.port) return void (counts.dropped += rtcp ? 0 : 1);
        (rtcp ? toCallee.pair.rtcp : toCallee.pair.rtp).send(data, toCallee.port + (rtcp ? 1 : 0), HOST);
      });
      const toCaller = legs[from(i)]?.caller;
      (rtcp ? callee.pair.rtcp : callee.pair.rtp).on('message', (data) => {
        if (!rtcp) counts.fromCallee++;
        if (!toCaller?.port) return void (counts.dropped += rtcp ? 0 : 1);
        (rtcp ? toCaller.pair.rtcp : toCaller.pair.rtp).send(data, toCaller.port + (rtcp ? 1 : 0), HOST);
      });
    }
  });
  return {
    calls,
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}
