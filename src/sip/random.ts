// Random identifiers for SIP (tags, branches, Call-IDs, digest cnonces) and
// node:crypto on demand. RFC 3261 §19.3 wants tags and Call-IDs
// cryptographically random. node:crypto gives that, but loading it (with the
// stream modules it pulls in) costs ~5 ms of a one-shot `probe options`, whose
// start-up budget is `node -e 0` + 60 ms (issue 19). So the bytes come from the
// kernel's CSPRNG, /dev/urandom, in 512-byte reads handed out once each, and
// node:crypto is loaded only where /dev/urandom cannot be read, or for a digest.
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as NodeCryptoModule from 'node:crypto';

type NodeCrypto = typeof NodeCryptoModule;

let crypto: NodeCrypto | undefined;

/** node:crypto, loaded on first use. */
export function nodeCrypto(): NodeCrypto {
  return (crypto ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto);
}

const pool = Buffer.alloc(512);
let used = pool.length;

function refill(): void {
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      if (readSync(fd, pool, 0, pool.length, null) !== pool.length) throw new Error('short read from /dev/urandom');
    } finally {
      closeSync(fd);
    }
  } catch {
    nodeCrypto().randomFillSync(pool);
  }
  used = 0;
}

/** `bytes` (1..64) cryptographically random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 64) throw new RangeError(`randomHex: ${bytes} bytes (1..64)`);
  if (used + bytes > pool.length) refill();
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}
