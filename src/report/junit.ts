// JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters): one
// <testcase> per probe, a <failure> naming the phase per failed check. A small
// writer instead of a dependency: the format needs five elements and escaping.
import type { Failure, ProbeResult } from '../probes/result.js';

export interface JUnitOptions {
  suite: string;
  /** ISO timestamp of the suite start. */
  timestamp?: string;
  hostname?: string;
  /** Total wall time, seconds (default: sum of the results' durations). */
  time_s?: number;
}

// XML 1.0 §2.2: these code points may not appear even escaped.
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for element content and attribute values. */
export function xmlEscape(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}

/** Element text keeps newlines readable; only attributes need them escaped. */
function textEscape(text: string): string {
  return xmlEscape(text).replace(/&#10;/g, '\n').replace(/&#9;/g, '\t');
}

function attrs(values: Record<string, string | number | undefined>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');
}

/** "[invite] final_status: expected 200, got 404 — Not Found". */
export function describeFailure(f: Failure): string {
  const parts = [`[${f.phase}] ${f.check}`];
  if (f.expected !== undefined || f.actual !== undefined) {
    parts.push(`: expected ${String(f.expected ?? '?')}, got ${String(f.actual ?? '?')}`);
  }
  if (f.message !== undefined && f.message !== '') parts.push(` (${f.message})`);
  return parts.join('');
}

/** A bug or a build/config problem is an <error>; a probe that ran and failed a check is a <failure>. */
function isError(f: Failure): boolean {
  return f.phase === 'internal' || f.phase === 'config';
}

function seconds(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(3) : '0.000';
}

export function junitXml(results: readonly ProbeResult[], opts: JUnitOptions): string {
  const failing = (r: ProbeResult) => !r.success || r.failures.length > 0;
  const errors = results.filter((r) => failing(r) && r.failures.some(isError)).length;
  const failures = results.filter((r) => failing(r) && !r.failures.some(isError)).length;
  const total = opts.time_s ?? results.reduce((s, r) => s + (typeof r.duration_s === 'number' ? r.duration_s : 0), 0);
  const counts = { tests: results.length, failures, errors, skipped: 0, time: seconds(total) };

  const cases = results.map((r) => {
    const kind = typeof r.kind === 'string' ? r.kind : 'probe';
    const open = `    <testcase${attrs({ classname: `callprobe.${kind}`, name: r.probe, time: seconds(r.duration_s) })}`;
    const body: string[] = [];
    if (failing(r)) {
      const list = r.failures.length > 0 ? r.failures : [{ check: 'success', phase: 'internal', message: 'probe reported failure without details' } as Failure];
      const tag = list.some(isError) ? 'error' : 'failure';
      const first = list[0] as Failure;
      body.push(
        `      <${tag}${attrs({ message: describeFailure(first), type: first.phase })}>${textEscape(list.map(describeFailure).join('\n'))}</${tag}>`,
      );
    }
    body.push(`      <system-out>${textEscape(JSON.stringify(r, null, 2))}</system-out>`);
    return `${open}>\n${body.join('\n')}\n    </testcase>`;
  });

  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: `callprobe ${opts.suite}`, ...counts })}>`,
    `  <testsuite${attrs({ name: opts.suite, ...counts, timestamp: opts.timestamp, hostname: opts.hostname })}>`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
