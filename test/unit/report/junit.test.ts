import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeFailure, junitXml, xmlEscape } from '../../../src/report/junit.js';
import { requiredInCi } from '../../ci-required.js';

const results = [
  { probe: 'smoke-options-udp', kind: 'options', success: true, duration_s: 0.0123, failures: [] },
  {
    probe: 'smoke-call-1001-1002',
    kind: 'call',
    success: false,
    duration_s: 3.2,
    failures: [
      { check: 'mos_min', expected: 4, actual: 3.1, phase: 'media' as const, message: 'caller_to_callee: <bad> & "worse"' },
      { check: 'loss_max_percent', expected: 1, actual: 5, phase: 'media' as const },
    ],
  },
  { probe: 'smoke-scenario', kind: 'scenario', success: false, duration_s: 0, failures: [{ check: 'kind_available', phase: 'config' as const, message: 'not in this build\u0001' }] },
];

// Python's ElementTree is a real XML parser: it rejects anything not well-formed.
function parseWithPython(xml: string): unknown {
  const script = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
def el(e): return {"tag": e.tag, "attrib": e.attrib, "text": (e.text or "").strip(), "children": [el(c) for c in e]}
print(json.dumps(el(root)))
`;
  const r = spawnSync('python3', ['-c', script], { input: xml, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

interface El {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: El[];
}

const hasPython = requiredInCi(spawnSync('python3', ['-c', 'import xml.etree.ElementTree'], { encoding: 'utf8' }).status === 0, 'python3');

describe('junitXml', () => {
  it.skipIf(!hasPython)('is well-formed JUnit with one testcase per probe and the phase in each failure', () => {
    const xml = junitXml(results, { suite: 'smoke', timestamp: '2026-11-25T16:00:00.000Z', hostname: 'lab' });
    const root = parseWithPython(xml) as El;
    expect(root.tag).toBe('testsuites');
    expect(root.attrib).toMatchObject({ tests: '3', failures: '1', errors: '1' });
    const suite = root.children[0] as El;
    expect(suite.attrib).toMatchObject({ name: 'smoke', tests: '3', timestamp: '2026-11-25T16:00:00.000Z', hostname: 'lab' });
    const cases = suite.children;
    expect(cases.map((c) => [c.attrib.classname, c.attrib.name, c.attrib.time])).toEqual([
      ['callprobe.options', 'smoke-options-udp', '0.012'],
      ['callprobe.call', 'smoke-call-1001-1002', '3.200'],
      ['callprobe.scenario', 'smoke-scenario', '0.000'],
    ]);
    expect(cases[0]?.children.map((c) => c.tag)).toEqual(['system-out']);
    const failure = cases[1]?.children[0] as El;
    expect(failure.tag).toBe('failure');
    expect(failure.attrib.type).toBe('media');
    expect(failure.attrib.message).toBe('[media] mos_min: expected 4, got 3.1 (caller_to_callee: <bad> & "worse")');
    expect(failure.text.split('\n')).toHaveLength(2);
    const error = cases[2]?.children[0] as El;
    expect(error.tag).toBe('error');
    expect(error.attrib.type).toBe('config');
    const out = cases[1]?.children[1] as El;
    expect(JSON.parse(out.text)).toMatchObject({ probe: 'smoke-call-1001-1002', success: false });
  });

  it('escapes markup and replaces characters XML cannot carry', () => {
    expect(xmlEscape(`a<b>&"c'\u0001`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;\uFFFD');
    expect(junitXml(results, { suite: 's' })).not.toContain('\u0001');
  });

  it('describes failures with phase, check, expected and actual', () => {
    expect(describeFailure({ check: 'final_status', expected: 200, actual: 404, phase: 'invite' })).toBe(
      '[invite] final_status: expected 200, got 404',
    );
    expect(describeFailure({ check: 'timeout', phase: 'register', message: 'no answer' })).toBe('[register] timeout (no answer)');
  });
});
