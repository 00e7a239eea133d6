// 100 000 mutated SIP messages through the parser and the stream framer: no
// exception may escape, every failure is a typed value (acceptance 6).
import { describe, expect, it } from 'vitest';
import { SipStreamFramer } from '../../../src/sip/framer.js';
import { parseMessage, serializeMessage } from '../../../src/sip/message.js';
import { INVALID, VALID } from './torture.js';

/** Small seeded PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['\r\n', ':', ';', ',', '<', '>', '"', '\\', ' ', '\t', '=', '@', '[', ']', '%', '\x00', '\xff', 'SIP/2.0', 'Content-Length: 99999999', 'l: -1', 'v: '];

function mutate(seed: Buffer, r: () => number): Buffer {
  const out = Buffer.from(seed);
  let b: Buffer = out;
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(r() * (b.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0: // flip a byte
        if (b.length > 0) b[Math.min(pos, b.length - 1)] = Math.floor(r() * 256);
        break;
      case 1: // delete a span
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + Math.floor(r() * 20))]);
        break;
      case 2: // insert a SIP-significant token
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(TOKENS[Math.floor(r() * TOKENS.length)] ?? '', 'latin1'), b.subarray(pos)]);
        break;
      case 3: // duplicate a span
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos, pos + Math.floor(r() * 40)), b.subarray(pos)]);
        break;
      case 4: // truncate
        b = b.subarray(0, pos);
        break;
      default: // swap two lines
        {
          const lines = b.toString('latin1').split('\r\n');
          const x = Math.floor(r() * lines.length);
          const y = Math.floor(r() * lines.length);
          const t = lines[x] ?? '';
          lines[x] = lines[y] ?? '';
          lines[y] = t;
          b = Buffer.from(lines.join('\r\n'), 'latin1');
        }
        break;
    }
  }
  return b;
}

describe('parser fuzz', () => {
  it('100 000 mutated messages: 0 escapes, typed errors only', () => {
    const seeds = [...Object.values(VALID), ...Object.values(INVALID)].map((s) => Buffer.from(s));
    const r = rng(4475);
    let accepted = 0;
    let rejected = 0;
    const framer = new SipStreamFramer();
    for (let i = 0; i < 100_000; i++) {
      const input = mutate(seeds[i % seeds.length] as Buffer, r);
      let result;
      try {
        result = parseMessage(input);
      } catch (err) {
        throw new Error(`escape on iteration ${i}: ${String(err)} input=${input.toString('base64')}`);
      }
      if (result.ok) {
        accepted++;
        // Whatever parses must serialize and re-parse.
        expect(parseMessage(serializeMessage(result.message)).ok).toBe(true);
      } else {
        rejected++;
        expect(result.error.code).toMatch(/^E_/);
        expect(result.error.code).not.toBe('E_INTERNAL');
      }
      if (i % 10 === 0) framer.push(input);
    }
    expect(accepted + rejected).toBe(100_000);
    expect(accepted).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(1000);
  }, 120_000);
});

describe('URI and header-value parsers under fast-check', () => {
  it('never throw on arbitrary strings; what parses round-trips', async () => {
    const fc = await import('fast-check');
    const { formatUri, parseNameAddr, parseUri, splitHeaderList } = await import('../../../src/sip/uri.js');
    const { parseVia, parseCSeq } = await import('../../../src/sip/message.js');
    const { parseChallenge } = await import('../../../src/sip/digest.js');
    const sipish = fc.stringMatching(/^(sips?:)?[a-z0-9%;=@:.\-[\]<>",?&]{0,40}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), sipish), (text) => {
        const u = parseUri(text);
        if (u) expect(parseUri(formatUri(u))).toEqual(u);
        parseNameAddr(text);
        splitHeaderList(text);
        parseVia(text);
        parseCSeq(text);
        parseChallenge(`Digest ${text}`);
      }),
      { numRuns: 20_000, seed: 3261 },
    );
  });
});
