// G.722 at 64 kbit/s, bit-exact against Debian's libspandsp (an independent
// implementation of the ITU reference) on speech-band tones, a chirp, noise
// and full-scale clipping; plus what the codec must do to a wideband tone.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { G722Decoder, G722Encoder } from '../../../src/rtp/g722.js';
import { requiredInCi } from '../../ci-required.js';

const HEADER = '/usr/include/spandsp/g722.h';
const SOURCE = resolve(import.meta.dirname, 'fixtures/spandsp-g722.c');

/** 16 kHz test signal: tones at 300 Hz..7 kHz, a chirp, PRNG noise, and clipped bursts. */
function testSignal(seconds: number): Int16Array {
  const n = 16000 * seconds;
  const out = new Int16Array(n);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < n; i++) {
    const t = i / 16000;
    const seg = Math.floor(t * 4) % 5;
    let v: number;
    if (seg === 0) v = 8000 * Math.sin(2 * Math.PI * 300 * t) + 6000 * Math.sin(2 * Math.PI * 3400 * t);
    else if (seg === 1) v = 12000 * Math.sin(2 * Math.PI * (200 + 3500 * (t % 0.25) * 4 * 2) * t);
    else if (seg === 2) v = 4000 * rnd();
    else if (seg === 3) v = 40000 * Math.sin(2 * Math.PI * 1000 * t); // clips
    else v = 9000 * Math.sin(2 * Math.PI * 6500 * t) + 200 * rnd();
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return out;
}

function snrDb(ref: Int16Array, got: Int16Array, delay: number): number {
  let s = 0;
  let e = 0;
  for (let i = 2000; i < ref.length - delay; i++) {
    const r = ref[i] ?? 0;
    s += r * r;
    e += (r - (got[i + delay] ?? 0)) ** 2;
  }
  return 10 * Math.log10(s / e);
}

describe('G.722 64 kbit/s', () => {
  let oracle = '';
  beforeAll(() => {
    if (!requiredInCi(existsSync(HEADER), `${HEADER} (package libspandsp-dev)`)) return;
    oracle = join(mkdtempSync(join(tmpdir(), 'cp-g722-')), 'spandsp-g722');
    execFileSync('cc', ['-O2', '-o', oracle, SOURCE, '-lspandsp']);
  });

  const run = (mode: 'enc' | 'dec', input: Buffer): Buffer => {
    const r = spawnSync(oracle, [mode], { input, maxBuffer: 1 << 24 });
    expect(r.status).toBe(0);
    return r.stdout;
  };

  it('encodes bit-exactly as spandsp', (ctx) => {
    if (!oracle) ctx.skip();
    const pcm = testSignal(5);
    const ours = new G722Encoder().encode(pcm);
    const theirs = run('enc', Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    expect(ours.length).toBe(pcm.length / 2);
    expect(ours.equals(theirs)).toBe(true);
  });

  it('decodes bit-exactly as spandsp, in one call or packet by packet', (ctx) => {
    if (!oracle) ctx.skip();
    const bytes = run('enc', Buffer.from(testSignal(5).buffer));
    const theirs = run('dec', bytes);
    const ours = new G722Decoder().decode(bytes);
    expect(Buffer.from(ours.buffer).equals(theirs)).toBe(true);
    const dec = new G722Decoder();
    const parts: Buffer[] = [];
    for (let off = 0; off < bytes.length; off += 160) {
      const pcm = dec.decode(bytes.subarray(off, off + 160));
      parts.push(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    }
    expect(Buffer.concat(parts).equals(theirs)).toBe(true);
  });

  it('keeps a 6.5 kHz tone (beyond narrowband) with > 20 dB SNR', () => {
    const pcm = new Int16Array(16000);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 6500 * i) / 16000));
    const back = new G722Decoder().decode(new G722Encoder().encode(pcm));
    // the QMF pair delays the signal by 22 samples
    const best = Math.max(...[20, 21, 22, 23, 24].map((d) => snrDb(pcm, back, d)));
    expect(best).toBeGreaterThan(20);
  });

  it('codes 20 ms in 160 bytes, and silence back to near-silence', () => {
    const out = new G722Encoder().encode(new Int16Array(320 * 10));
    expect(out.length).toBe(1600);
    const back = new G722Decoder().decode(out);
    expect(Math.max(...back.map(Math.abs))).toBeLessThan(16);
  });
});
