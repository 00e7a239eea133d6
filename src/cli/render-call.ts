// Human rendering of a call result, and the live progress line. Rendering
// only: every number was computed by the probe.
import type { CallProgress, CallResult, DirectionResult } from '../probes/call/probe.js';
import { renderSrtp } from './srtp-flag.js';

const ARROW: Record<DirectionResult['direction'], string> = {
  caller_to_callee: 'caller→callee',
  callee_to_caller: 'callee→caller',
};

const show = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? '-' : v.toFixed(digits));
const count = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n');
}

export function renderCall(r: CallResult): string {
  const lines: string[] = [];
  const verdict = r.success ? 'PASSED' : r.interrupted ? 'INTERRUPTED' : 'FAILED';
  lines.push(`call ${r.from} → ${r.to}: ${verdict}   (${r.target})`);
  const t = r.sip.timings_ms;
  const timing = (['register', 'pdd', 'answer', 'setup', 'bye'] as const)
    .filter((k) => t[k] !== undefined)
    .map((k) => `${k} ${show(t[k], 1)} ms`)
    .join('  ');
  const status = r.sip.final_status === null ? 'no final response' : `${r.sip.final_status} ${r.sip.reason}`;
  lines.push(`SIP    ${status}${timing ? `   ${timing}` : ''}`);
  if (r.sip.call_id) lines.push(`       Call-ID ${r.sip.call_id}`);
  if (r.media) {
    lines.push(`Media  ${r.media.codec ?? '?'}, ${show(r.media.duration_s, 1)} s${r.media.rtt_ms !== null ? `, RTCP round trip ${show(r.media.rtt_ms, 1)} ms` : ''}`);
    const rows = [['direction', 'sent', 'received', 'lost', 'loss %', 'jitter ms', 'max ms', 'R', 'MOS']];
    for (const d of r.media.directions) {
      rows.push([
        ARROW[d.direction] + (d.measured_by === 'rtcp' ? ' (RTCP)' : ''),
        count(d.packets_sent),
        count(d.packets_received),
        count(d.packets_lost),
        show(d.loss_percent),
        show(d.jitter_ms, 3),
        show(d.jitter_max_ms, 3),
        show(d.r_factor),
        show(d.mos),
      ]);
    }
    lines.push(table(rows));
    const srtp = r.media.srtp;
    if (srtp) {
      lines.push(`SRTP   ${srtp.mode}, SDES ${srtp.suite ?? 'not agreed: plain RTP'}`);
      for (const d of r.media.directions) if (d.srtp !== undefined) lines.push(`  ${ARROW[d.direction]}: ${renderSrtp(d.srtp)}`);
    }
    const heard = r.media.directions.filter((d) => d.audio);
    if (heard.length > 0) {
      const audioRows = [['audio', 'level dBov', 'active', 'silence', 'clipping', 'markers', 'match', 'gain dB', 'delay ms']];
      for (const d of heard) {
        const a = d.audio;
        if (!a) continue;
        audioRows.push([
          ARROW[d.direction] + (a.present ? '' : ' (silent)'),
          show(a.active_level_dbov, 1),
          `${show(a.activity_ratio * 100, 0)} %`,
          `${show(a.silence_ratio * 100, 0)} %`,
          `${show(a.clipping_ratio * 100, 2)} %`,
          `${a.markers_heard}${a.markers_foreign > 0 ? ` (+${a.markers_foreign} foreign)` : ''}${(a.markers_echoed ?? 0) > 0 ? ` (+${a.markers_echoed} ours back)` : ''}`,
          a.marker_match === null ? '-' : a.marker_match ? 'yes' : 'NO',
          show(a.marker_gain_db, 1),
          show(a.audio_delay_ms, 1),
        ]);
      }
      lines.push(table(audioRows));
    }
  }
  if (r.failures.length > 0) {
    lines.push('Failures:');
    for (const f of r.failures) {
      const measured = f.expected !== undefined ? ` (expected ${String(f.expected)}, got ${String(f.actual ?? '-')})` : '';
      lines.push(`  [${f.phase}] ${f.check}${f.message ? `: ${f.message}` : ''}${measured}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function renderProgress(p: CallProgress): string {
  const s = (p.elapsed_ms / 1000).toFixed(1);
  if (p.phase !== 'media') return `${p.phase} ${s}s`;
  return `media ${s}s  sent ${p.packets_sent ?? 0}  received ${p.packets_received ?? 0}  loss ${show(p.loss_percent)}%  jitter ${show(p.jitter_ms, 2)} ms`;
}
