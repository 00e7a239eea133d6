// probe answer --play / --echo through the shipped CLI: what it refuses before binding anything, and --help.
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('probe answer --play / --echo', () => {
  it('--help teaches both', async () => {
    const r = await runCli(['answer', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--play <file\.wav>\s+IVR stand-in/);
    expect(r.stdout).toMatch(/--echo\s+echo: send every RTP packet received straight back/);
    expect(r.stdout).toContain('expect_echo');
    expect(r.stdout).toContain('expect_prompt');
    expect(r.stdout).toMatch(/--no-audio-analysis\s+do not decode what callers send/);
    expect(r.stdout).toContain('audio_crossed (another call\'s markers)');
  });

  it('refuses two sources of what callers hear, and an unreadable prompt, with exit 2', async () => {
    const both = await runCli(['answer', '--bind', '127.0.0.1:5999', '--play', 'x.wav', '--echo']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--audio, --play and --echo each say what callers hear: give one of them');
    const missing = await runCli(['answer', '--bind', '127.0.0.1:5999', '--play', '/nonexistent/prompt.wav']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--play: \/nonexistent\/prompt\.wav: cannot read/);
  });
});
