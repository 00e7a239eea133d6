// Fuzz (issue 14 item 4): config text as a user (or a broken deploy script)
// might write it goes through parseConfigText. Mutated valid configs, YAML
// structure characters, anchors/aliases, tags and deep nesting: the result is a
// config or a ConfigError (the documented error: `path: message` lines), never
// another throw, and each parse is bounded (the 4 MiB file cap is load.ts's; an
// alias bomb is refused by the YAML layer). Seeded: a failure prints its seed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfigText } from '../../../src/config/load.js';

const VALID = `pbx: { uri: "sip:127.0.0.1:5060", transport: udp }
accounts:
  "1001": { password: "env:PW" }
rtp: { port_min: 16000, port_max: 16999, codecs: [PCMU, PCMA] }
listen: { metrics: "127.0.0.1:9464" }
http: { probe_min_interval: 10s }
webhooks: [ { url: "http://127.0.0.1:9/hook", format: json } ]
thresholds: { mos_min: 3.5 }
sources: { hep: "127.0.0.1:9060" }
`;

const TOKENS = ['{', '}', '[', ']', ':', '- ', '&a ', '*a', '!!binary ', '!!js/function ', '? ', '|', '>', '"', "'", '#', '\t', '\n', '  ', '%YAML 1.2\n', '---\n', '...\n', '<<: *a\n', '~', '1e309', '-0', '0x1F', '.inf', 'null', '__proto__: {}\n', 'constructor: 1\n'];

const configText = fc.oneof(
  // splice tokens into the valid config
  fc.array(fc.tuple(fc.nat(VALID.length), fc.constantFrom(...TOKENS)), { minLength: 1, maxLength: 6 }).map((edits) => {
    let t = VALID;
    for (const [i, tok] of edits) t = t.slice(0, i % (t.length + 1)) + tok + t.slice(i % (t.length + 1));
    return t;
  }),
  // delete a range
  fc.tuple(fc.nat(VALID.length), fc.nat(80)).map(([i, n]) => VALID.slice(0, i) + VALID.slice(i + n)),
  // token soup
  fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 8 })), { maxLength: 40 }).map((parts) => parts.join('')),
  // deep nesting
  fc.integer({ min: 1, max: 1000 }).map((d) => `pbx: ${'['.repeat(d)}${']'.repeat(d)}\n`),
);

describe('config YAML fuzz', () => {
  it('300 mutated configs: a frozen config or a ConfigError, never another throw, each parse bounded', () => {
    let slowest = 0;
    fc.assert(
      fc.property(configText, (text) => {
        const t0 = performance.now();
        try {
          const config = parseConfigText(text, '/etc/callprobe/callprobe.yaml', { PW: 'pw' });
          expect(Object.isFrozen(config)).toBe(true);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          expect(err.issues.length).toBeGreaterThan(0);
          for (const issue of err.issues) expect(typeof issue.message).toBe('string');
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }),
      { seed: 0xc0f1, numRuns: 300 },
    );
    // Not a performance figure: catches a parse that runs away (backtracking, alias expansion).
    expect(slowest, `slowest parse ${slowest.toFixed(0)} ms`).toBeLessThan(2000);
  });
});
