import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatScenarioIssue, loadScenario, parseScenarioText, resolveScenarioFile, ScenarioError } from '../../../../src/probes/scenario/load.js';
import { callDestination, describeStep, STEP_KINDS } from '../../../../src/probes/scenario/schema.js';

const ROOT = path.resolve(import.meta.dirname, '../../../..');
const config = { accounts: { '1001': { password: 'a' }, '1002': { password: 'b' } }, allowed_destinations: ['9*', '1004'] };

function issuesOf(text: string, withConfig = true): Array<{ path: string; message: string; line?: number }> {
  try {
    parseScenarioText(text, 'x.yaml', withConfig ? config : undefined);
  } catch (err) {
    if (err instanceof ScenarioError) return err.issues.map((i) => ({ path: i.path, message: i.message, ...(i.line !== undefined ? { line: i.line } : {}) }));
    throw err;
  }
  return [];
}

describe('shipped scenarios', () => {
  const files = fs.readdirSync(path.join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml'));

  it('are the five of the brief', () => {
    expect(files.sort()).toEqual(['basic-call.yaml', 'cancel.yaml', 'hold-resume.yaml', 'ivr-dtmf.yaml', 'trunk-call.yaml']);
  });

  it.each(files)('%s validates against a lab-like config', (file) => {
    const text = fs.readFileSync(path.join(ROOT, 'scenarios', file), 'utf8');
    const s = parseScenarioText(text, file, config);
    expect(s.name).toBe(file.replace(/\.yaml$/, ''));
    expect(s.steps.some((st) => st.kind === 'call')).toBe(true);
  });

  it('trunk-call needs allowed_destinations 9* (toll-fraud guard)', () => {
    const text = fs.readFileSync(path.join(ROOT, 'scenarios', 'trunk-call.yaml'), 'utf8');
    expect(() => parseScenarioText(text, 'trunk-call.yaml', { ...config, allowed_destinations: [] })).toThrow(/to: "9155501234" is neither a config account nor in allowed_destinations/);
  });
});

describe('parseScenarioText', () => {
  it('normalises steps: kinds, defaults, durations in ms, single codec to a list-compatible value', () => {
    const s = parseScenarioText(
      `name: demo
from: "1001"
to: "1002"
steps:
  - register: { account: "1002" }
  - call: { codec: PCMA }
  - expect:
  - wait: 1500ms
  - hold:
  - send_dtmf: { digits: "12#" }
  - expect_dtmf: { digits: "12#", timeout: 2s }
  - bye: {}
`,
      'demo.yaml',
      config,
    );
    expect(s.steps.map((st) => st.kind)).toEqual(['register', 'call', 'expect', 'wait', 'hold', 'send_dtmf', 'expect_dtmf', 'bye']);
    expect(s.steps[0]).toEqual({ kind: 'register', account: '1002', expires: 60_000, answer: 'auto' });
    expect(s.steps[1]).toEqual({ kind: 'call', codec: 'PCMA', ring_timeout: 30_000 });
    expect(s.steps[2]).toEqual({ kind: 'expect', status: 200 });
    expect(s.steps[3]).toEqual({ kind: 'wait', ms: 1500 });
    expect(s.steps[4]).toEqual({ kind: 'hold', check_rtp: true });
    expect(s.steps[5]).toEqual({ kind: 'send_dtmf', digits: '12#', duration: 100, pause: 100, leg: 'caller' });
    expect(s.steps[6]).toEqual({ kind: 'expect_dtmf', digits: '12#', timeout: 2000, leg: 'callee' });
    expect(s.step_timeout).toBe(10_000);
    expect(callDestination(s)).toBe('1002');
    expect(Object.isFrozen(s.steps[0])).toBe(true);
  });

  it('a typo in a step key names the step index, the key and its YAML line', () => {
    const issues = issuesOf(`name: t
from: "1001"
to: "1002"
steps:
  - call: {}
  - expect:
      status: 200
      max_ppd: 2s
`);
    expect(issues).toEqual([{ path: 'steps[1].expect.max_ppd', message: 'unknown key', line: 8 }]);
  });

  it('an unknown step kind suggests the nearest one', () => {
    const issues = issuesOf(`name: t
from: "1001"
to: "1002"
steps:
  - call: {}
  - hodl: {}
`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'steps[1].hodl', line: 6 });
    expect(issues[0]?.message).toMatch(/^unknown step "hodl" \(did you mean "hold"\?\)/);
    expect(issues[0]?.message).toContain(STEP_KINDS.join(', '));
  });

  it.each([
    ['wait: 2', 'steps[1].wait', /a bare number is ambiguous/],
    ['wait: 2 seconds', 'steps[1].wait', /expected a duration with a unit/],
    ['wait: 2h', 'steps[1].wait', /out of range/],
    ['cancel_after: -1s', 'steps[1].cancel_after', /expected a duration with a unit/],
    ['send_dtmf: { digits: "1", duration: 5ms }', 'steps[1].send_dtmf.duration', /out of range \(20ms to 5s\)/],
  ])('bad duration "%s" → %s', (step, where, message) => {
    const issues = issuesOf(`name: t\nfrom: "1001"\nto: "1002"\nsteps:\n  - call: {}\n  - ${step}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(where);
    expect(issues[0]?.message).toMatch(message);
    expect(issues[0]?.line).toBe(6);
  });

  it('reports every error at once, in line order, with top-level unknown keys', () => {
    const issues = issuesOf(`name: t
from: "1001"
extra: true
steps:
  - call: { to: "1002", codec: G729 }
  - send_dtmf: { digits: "12x" }
thresholds: { mos: 4 }
`);
    expect(issues.map((i) => `${i.line}: ${i.path}`)).toEqual(['3: extra', '5: steps[0].call.codec', '6: steps[1].send_dtmf.digits', '7: thresholds.mos']);
  });

  it('a step that is not a one-key map is an error at its index', () => {
    const issues = issuesOf(`name: t\nfrom: "1001"\nto: "1002"\nsteps:\n  - call: {}\n    wait: 1s\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps[0]');
    expect(issues[0]?.message).toMatch(/one key/);
  });

  it('call-dependent steps need a call before them; one call per scenario; a call needs a destination', () => {
    expect(issuesOf(`name: t\nfrom: "1001"\nto: "1002"\nsteps:\n  - bye: {}\n  - call: {}\n`)).toEqual([
      { path: 'steps[0].bye', message: '"bye" acts on the call: put a "call" step before it', line: 5 },
    ]);
    expect(issuesOf(`name: t\nfrom: "1001"\nto: "1002"\nsteps:\n  - call: {}\n  - call: {}\n`)[0]).toMatchObject({ path: 'steps[1].call', line: 6 });
    expect(issuesOf(`name: t\nfrom: "1001"\nsteps:\n  - call: {}\n`)[0]).toMatchObject({ path: 'steps[0].call.to', message: expect.stringMatching(/required/) });
  });

  it('cross-checks accounts and destinations against the config, with lines', () => {
    const issues = issuesOf(`name: t
from: "1009"
steps:
  - register: { account: "1003" }
  - call: { to: "+8821234567" }
`);
    expect(issues).toEqual([
      { path: 'from', message: 'unknown account "1009" (config accounts: 1001, 1002)', line: 2 },
      { path: 'steps[0].register.account', message: 'unknown account "1003" (config accounts: 1001, 1002)', line: 4 },
      { path: 'steps[1].call.to', message: '"+8821234567" is neither a config account nor in allowed_destinations (toll-fraud guard)', line: 5 },
    ]);
    // Without a config, only the shape is checked.
    expect(issuesOf(`name: t\nfrom: "1009"\nsteps:\n  - call: { to: "+8821234567" }\n`, false)).toEqual([]);
  });

  it('YAML syntax errors and non-map documents come back as issues with a line', () => {
    expect(issuesOf('name: t\nfrom: "1001"\nname: u\n')[0]).toMatchObject({ line: 3 });
    expect(issuesOf('- a\n- b\n')[0]?.message).toMatch(/expected a YAML mapping/);
  });
});

describe('formatScenarioIssue / describeStep', () => {
  it('formats compiler-style', () => {
    expect(formatScenarioIssue('s.yaml', { path: 'steps[2].call.codec', message: 'bad', line: 7 })).toBe('s.yaml:7: steps[2].call.codec: bad');
    expect(formatScenarioIssue('s.yaml', { path: '', message: 'cannot read' })).toBe('s.yaml: (root): cannot read');
  });

  it('labels steps for the table', () => {
    expect(describeStep({ kind: 'wait', ms: 2000 })).toBe('wait 2s');
    expect(describeStep({ kind: 'cancel_after', ms: 1500 })).toBe('cancel_after 1.5s');
    expect(describeStep({ kind: 'bye', by: 'callee' })).toBe('bye (callee)');
  });
});

describe('resolveScenarioFile / loadScenario', () => {
  it('finds a name in scenarios_dir, then ./scenarios; a missing one is a ScenarioError', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callprobe-scn-'));
    try {
      fs.writeFileSync(path.join(dir, 'mine.yml'), 'name: mine\nfrom: "1001"\nsteps:\n  - options: {}\n');
      expect(resolveScenarioFile('mine', { scenariosDir: dir, cwd: ROOT })).toBe(path.join(dir, 'mine.yml'));
      expect(resolveScenarioFile('cancel', { scenariosDir: dir, cwd: ROOT })).toBe(path.join(ROOT, 'scenarios', 'cancel.yaml'));
      expect(resolveScenarioFile('nope', { scenariosDir: dir, cwd: ROOT })).toBeUndefined();
      expect(resolveScenarioFile('sub/nope', { scenariosDir: dir, cwd: ROOT })).toBeUndefined();
      expect(() => loadScenario('nope', { cwd: dir })).toThrow(ScenarioError);
      expect(loadScenario(path.join(dir, 'mine.yml')).scenario.steps).toEqual([{ kind: 'options', status: 200 }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
