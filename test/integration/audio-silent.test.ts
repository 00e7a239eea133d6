// A far end we did not write that sends RTP carrying silence: SIPp answers with PCMA and
// streams a file of A-law digital silence (0xD5). `probe call --direct` must report
// audio_silent on callee→caller and exit 1; caller→callee (SIPp only sinks it) has no
// failure.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { labWorkdir, sippStart } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const SIP_PORT = 5268;
const MEDIA_PORT = 17268;

describe('RTP that carries silence (SIPp rtp_stream of A-law silence)', () => {
  it('probe call --direct: audio_silent on callee→caller, exit 1; caller→callee passes', async () => {
    const w = labWorkdir();
    fs.writeFileSync(path.join(w, 'audio_silence.alaw'), Buffer.alloc(8000 * 2, 0xd5));
    const xml = path.join(w, 'uas_silence.xml');
    fs.writeFileSync(xml, fs.readFileSync(path.join(ROOT, 'test/lab/sipp/uas_answer.xml'), 'utf8').replace('lab_audio.alaw,-1,8', 'audio_silence.alaw,-1,8'));
    const config = path.join(w, 'audio-silent.yaml');
    fs.writeFileSync(config, `pbx: { uri: "sip:127.0.0.1:5060" }\nrtp: { port_min: 16970, port_max: 16979 }\nstate_dir: ${w}/audio-silent-state\n`);
    const uas = await sippStart(xml, ['-i', '127.0.0.1', '-p', String(SIP_PORT), '-mi', '127.0.0.1', '-mp', String(MEDIA_PORT), '-m', '1'], { name: 'sipp-silence' });
    let stdout = '';
    let stderr = '';
    let code = 0;
    try {
      ({ stdout, stderr } = await execFileP(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'call', 'probe', 'silent', '--direct', `sip:silent@127.0.0.1:${SIP_PORT}`, '--codec', 'PCMA', '--duration', '4s', '--json', '--config', config],
        { cwd: ROOT, timeout: 30_000 },
      ));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: number };
      stdout = e.stdout ?? '';
      stderr = e.stderr ?? '';
      code = e.code ?? -1;
    } finally {
      await uas.stop();
    }
    expect(stdout.trim(), stderr).not.toBe('');
    const r = JSON.parse(stdout) as CallResult;
    expect(code, stderr).toBe(1);
    expect(r.sip.final_status).toBe(200);
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.packets_received).toBeGreaterThan(150);
    expect(back?.audio).toMatchObject({ present: false, silence_ratio: 1, markers_expected: false, marker_match: null });
    // A-law "silence" 0xD5 decodes to +8: a DC of -72 dBov, far below the -45 dBov floor
    expect(back?.audio?.active_level_dbov ?? -100).toBeLessThan(-60);
    expect(r.failures.map((f) => `${f.check} ${f.message?.slice(0, 14) ?? ''}`)).toEqual(['audio_silent callee→caller:']);
    const out = r.media?.directions.find((d) => d.direction === 'caller_to_callee');
    expect(out?.audio).toBeUndefined(); // SIPp only sinks it: nobody of ours heard it
  });
});
