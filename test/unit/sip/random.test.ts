// sip/random.ts: SIP identifiers from /dev/urandom, handed out once each.
import { describe, expect, it } from 'vitest';
import { nodeCrypto, randomHex } from '../../../src/sip/random.js';
import { newBranch, newTag } from '../../../src/sip/transaction.js';

describe('randomHex', () => {
  it('gives the asked number of bytes as hex, never the same bytes twice across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const h = randomHex(12);
      expect(h).toMatch(/^[0-9a-f]{24}$/);
      seen.add(h);
    }
    expect(seen.size).toBe(2000);
    expect(randomHex(1)).toMatch(/^[0-9a-f]{2}$/);
    expect(randomHex(64)).toMatch(/^[0-9a-f]{128}$/);
  });

  it('is not constant: over 4096 bytes every byte value turns up (a stuck or zero pool would not)', () => {
    const values = new Set<string>();
    for (let i = 0; i < 64; i++) for (const b of randomHex(64).match(/../g) ?? []) values.add(b);
    expect(values.size).toBeGreaterThan(250);
  });

  it('refuses sizes outside 1..64', () => {
    for (const n of [0, -1, 65, 1.5]) expect(() => randomHex(n)).toThrow(RangeError);
  });

  it('feeds branches (RFC 3261 magic cookie) and tags; nodeCrypto() is node:crypto (digests)', () => {
    expect(newBranch()).toMatch(/^z9hG4bK[0-9a-f]{16}$/);
    expect(newTag()).toMatch(/^[0-9a-f]{12}$/);
    expect(nodeCrypto().createHash('md5').update('a').digest('hex')).toBe('0cc175b9c0f1b6a831c399e269772661');
  });
});
