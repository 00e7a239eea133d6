import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configIssuesOf } from './issues.js';
import { parseConfigText } from '../../../src/config/load.js';
import { continuousProbeFiles, effectiveTimeoutMs, loadProbeFiles, parseProbeFileText } from '../../../src/config/probes.js';

const LAB = parseConfigText(
  [
    'pbx: { uri: "sip:127.0.0.1:5060" }',
    'accounts:',
    '  "1001": { password: lab1001pw }',
    '  "1002": { password: lab1002pw }',
    'allowed_destinations: ["+1555*"]',
  ].join('\n'),
  '/lab/callprobe.yaml',
  {},
);

describe('probe definitions', () => {
  it('parses each kind with defaults (interval 60s, call duration 10s)', () => {
    const text = `probes:
  - { name: o, kind: options }
  - { name: r, kind: register, account: "1001" }
  - { name: c, kind: call, from: "1001", to: "+15550100", thresholds: { mos_min: 4.2 } }
  - { name: t, kind: cert, targets: ["sips:127.0.0.1:5061"], interval: 1h }
  - { name: s, kind: scenario, file: basic.yaml }
`;
    const defs = parseProbeFileText(text, '/p/x.yaml', LAB);
    expect(defs.map((d) => d.kind)).toEqual(['options', 'register', 'call', 'cert', 'scenario']);
    expect(defs[0]?.interval).toBe(60_000);
    expect(defs[3]?.interval).toBe(3_600_000);
    const call = defs[2];
    expect(call?.kind === 'call' && call.duration).toBe(10_000);
    expect(call?.thresholds.mos_min).toBe(4.2);
    expect(call?.source).toBe('/p/x.yaml');
  });

  it('a scenario probe takes media.srtp (off by default), like a call probe', () => {
    const defs = parseProbeFileText('probes:\n  - { name: s, kind: scenario, file: basic.yaml, media: { srtp: required } }\n  - { name: t, kind: scenario, file: basic.yaml }\n', '/p/s.yaml', LAB);
    expect(defs.map((d) => (d.kind === 'scenario' ? d.media.srtp : undefined))).toEqual(['required', 'off']);
    expect(() => parseProbeFileText('probes:\n  - { name: s, kind: scenario, file: b.yaml, media: { srtp: sometimes } }\n', '/p/s.yaml', LAB)).toThrow(/srtp/);
  });

  it('a call probe and rtp.codecs take opus (the RFC 7587 name) and G722', () => {
    const defs = parseProbeFileText('probes:\n  - { name: w, kind: call, from: "1001", to: "1002", codec: opus }\n', '/p/w.yaml', LAB);
    expect(defs[0]?.kind === 'call' && defs[0].codec).toBe('opus');
    const cfg = parseConfigText('pbx: { uri: "sip:127.0.0.1:5060" }\nrtp: { codecs: [opus, G722, PCMU] }\n', '/c.yaml', {});
    expect(cfg.rtp.codecs).toEqual(['opus', 'G722', 'PCMU']);
  });

  it('computes timeouts: explicit, call duration + 20 s, else 10 s', () => {
    const defs = parseProbeFileText(
      'probes:\n  - { name: a, kind: options, timeout: 2s }\n  - { name: b, kind: call, from: "1001", to: "1002", duration: 5s }\n  - { name: c, kind: options }\n',
      '/p/x.yaml',
    );
    expect(defs.map((d) => effectiveTimeoutMs(d))).toEqual([2000, 25_000, 10_000]);
  });

  it('reports unknown keys, bad kinds and cross-check failures with paths', () => {
    const text = `probes:
  - { name: o, kind: options, intervall: 5s }
  - { name: x, kind: ping }
  - { name: r, kind: register, account: "1009" }
  - { name: c, kind: call, from: "1001", to: "+8821234" }
`;
    const schemaErrors = configIssuesOf(() => parseProbeFileText(text, '/p/x.yaml', LAB));
    expect(schemaErrors.some((l) => l.startsWith('probes[0].intervall: unknown key'))).toBe(true);
    expect(schemaErrors.some((l) => l.startsWith('probes[1].kind:'))).toBe(true);
    const crossErrors = configIssuesOf(() =>
      parseProbeFileText(text.split('\n').filter((_, i) => i !== 1 && i !== 2).join('\n'), '/p/x.yaml', LAB),
    );
    expect(crossErrors).toEqual([
      'probes[0].account: unknown account "1009" (config accounts: 1001, 1002) (line 2)',
      'probes[1].to: "+8821234" is neither a config account nor in allowed_destinations (toll-fraud guard) (line 3)',
    ]);
  });

  it('media.srtp: keys only over TLS unless allow_insecure_keys; defaults off', () => {
    const text = `probes:
  - { name: c, kind: call, from: "1001", to: "1002", media: { srtp: required } }
`;
    expect(configIssuesOf(() => parseProbeFileText(text, '/p/x.yaml', LAB))).toEqual([
      'probes[0].media.srtp: srtp required: SDES keys would be sent in clear over UDP signalling to sip:127.0.0.1:5060; use TLS (transport tls / sips:) or allow it explicitly (--allow-insecure-keys, media.allow_insecure_keys: true) (line 2)',
    ]);
    const allowed = parseProbeFileText(text.replace('srtp: required', 'srtp: required, allow_insecure_keys: true'), '/p/x.yaml', LAB);
    expect(allowed[0]).toMatchObject({ media: { srtp: 'required', allow_insecure_keys: true } });
    const tls = parseConfigText('pbx: { uri: "sip:127.0.0.1:5061", transport: tls }\naccounts:\n  "1001": { password: a }\n  "1002": { password: b }\n', '/lab/c.yaml', {});
    expect(parseProbeFileText(text, '/p/x.yaml', tls)[0]).toMatchObject({ media: { srtp: 'required' } });
    const plain = parseProbeFileText('probes:\n  - { name: c, kind: call, from: "1001", to: "1002" }\n', '/p/x.yaml', LAB);
    expect(plain[0]).toMatchObject({ media: { srtp: 'off', allow_insecure_keys: false } });
    expect(configIssuesOf(() => parseProbeFileText(text.replace('required', 'mandatory'), '/p/x.yaml', LAB))[0]).toMatch(/^probes\[0\]\.media\.srtp: /);
  });

  it('rejects duplicate names across files and names the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-probes-'));
    writeFileSync(join(dir, 'a.yaml'), 'probes:\n  - { name: dup, kind: options }\n');
    writeFileSync(join(dir, 'b.yaml'), 'probes:\n  - { name: dup, kind: options }\n');
    writeFileSync(join(dir, 'smoke.yaml'), 'probes:\n  - { name: dup, kind: options }\n');
    const files = continuousProbeFiles(dir);
    expect(files).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    expect(configIssuesOf(() => loadProbeFiles(files))).toEqual([`${join(dir, 'b.yaml')}: probes[0].name: duplicate probe name "dup" (also in a.yaml) (line 2)`]);
  });

  it('validates the shipped lab probe files against a lab config', () => {
    const root = new URL('../../../probes/', import.meta.url).pathname;
    const continuous = loadProbeFiles([join(root, 'continuous.yaml')], LAB);
    expect(new Set(continuous.map((d) => d.kind))).toEqual(new Set(['options', 'register', 'call', 'cert']));
    const smoke = loadProbeFiles([join(root, 'smoke.yaml')], LAB);
    expect(smoke).toHaveLength(5);
  });
});
