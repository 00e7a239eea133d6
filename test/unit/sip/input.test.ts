// Issue 21.6 / 14.4: the one gate for user-supplied SIP text. Unit checks of
// src/sip/input.ts and of serializeMessage's backstop, then the shipped CLI
// against a UDP peer that records every datagram: refused input exits 2 and
// nothing reaches the peer.
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSipUri, checkUaIdentity, SipInputError } from '../../../src/sip/input.js';
import { createRequest, createResponse, parseMessage, serializeMessage } from '../../../src/sip/message.js';
import { runCli } from '../cli/run-cli.js';

const INJECTION = '1001@127.0.0.1>\r\nX-Evil: 1\r\nX-Pad: <sip:1001';

function refusal(fn: () => unknown): SipInputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SipInputError) return err;
    throw err;
  }
  throw new Error('expected a SipInputError');
}

describe('SIP input gate', () => {
  it('refuses CR, LF, NUL and malformed user parts in every identity field', () => {
    expect(refusal(() => checkUaIdentity({ user: INJECTION })).message).toBe(
      'user: "1001@127.0.0.1>\\r\\nX-Evil: 1\\r\\nX-Pad: <sip:1001" contains a control character (CR, LF or NUL); refused, nothing was sent',
    );
    expect(refusal(() => checkUaIdentity({ user: '1001@127.0.0.1>' })).field).toBe('user');
    expect(refusal(() => checkUaIdentity({ authUser: 'a\0b' })).field).toBe('auth user');
    expect(refusal(() => checkUaIdentity({ displayName: 'Probe\nX: 1' })).field).toBe('display name');
    expect(refusal(() => checkUaIdentity({ domain: 'example.com\r\n' })).field).toBe('domain');
    expect(refusal(() => checkUaIdentity({ server: '127.0.0.1:5060\r\nX: 1' })).field).toBe('server');
    expect(() => checkUaIdentity({ user: '1001', authUser: 'auth-1001', displayName: 'Probe "A"', domain: 'pbx.example.com', server: 'sips:[::1]:5061' })).not.toThrow();
    expect(() => checkUaIdentity({ user: '+1%20555;phone', server: '127.0.0.1' })).not.toThrow();
  });

  it('refuses a password inside a SIP URI without repeating it', () => {
    const err = refusal(() => checkSipUri('target', 'sip:1001:s3cr3t@127.0.0.1:5060'));
    expect(err.message).toBe("target: sip:1001:***@127.0.0.1:5060: a password inside a SIP URI is not allowed (it would be sent in clear); give it as the account's password");
    expect(refusal(() => checkUaIdentity({ server: 'sip:1001:s3cr3t@pbx' })).message).not.toContain('s3cr3t');
    expect(checkSipUri('target', 'sip:1002@127.0.0.1;transport=tcp').user).toBe('1002');
    expect(checkSipUri('target', 'tel:+15550100').scheme).toBe('tel');
  });

  it('serializeMessage refuses any header, Request-URI or reason phrase that would break a line', () => {
    const ok = createRequest({ method: 'OPTIONS', uri: 'sip:127.0.0.1', headers: [['Via', 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1'], ['X-Note', 'a\tb']] });
    expect(serializeMessage(ok).toString()).toContain('X-Note: a\tb\r\n');
    const header = createRequest({ method: 'OPTIONS', uri: 'sip:127.0.0.1', headers: [['Subject', 'hi\r\nX-Evil: 1']] });
    expect(refusal(() => serializeMessage(header)).field).toBe('Subject header');
    expect(refusal(() => serializeMessage(createRequest({ method: 'OPTIONS', uri: 'sip:127.0.0.1', headers: [['X-Evil\r\nY', '1']] }))).field).toBe('header name');
    expect(refusal(() => serializeMessage(createRequest({ method: 'OPTIONS', uri: 'sip:127.0.0.1 SIP/2.0\r\nX: 1', headers: [] }))).field).toBe('Request-URI');
    expect(refusal(() => serializeMessage(createRequest({ method: 'OPTIONS', uri: 'sip:a b', headers: [] }))).field).toBe('Request-URI');
    expect(refusal(() => serializeMessage(createRequest({ method: 'OPT\nIONS', uri: 'sip:a', headers: [] }))).field).toBe('method');
    expect(refusal(() => serializeMessage(createResponse(ok, 200, 'OK\r\nX: 1'))).field).toBe('reason phrase');
  });

  it('the parser rejects a bare CR or NUL in a header we would echo, so answering never trips the gate', () => {
    const msg = (via: string, callId = 'c1') =>
      `OPTIONS sip:a@b SIP/2.0\r\nVia: ${via}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    expect(parseMessage(msg('SIP/2.0/UDP h\r;branch=z9hG4bK2'))).toMatchObject({ ok: false, error: { code: 'E_HEADER_SYNTAX' } });
    expect(parseMessage(msg('SIP/2.0/UDP h;branch=z9hG4bK2', 'c\u0000'))).toMatchObject({ ok: false, error: { code: 'E_HEADER_SYNTAX' } });
    const good = parseMessage(msg('SIP/2.0/UDP h;branch=z9hG4bK2'));
    if (!good.ok || good.message.kind !== 'request') throw new Error('expected a request');
    expect(serializeMessage(createResponse(good.message, 200)).toString()).toMatch(/^SIP\/2\.0 200 OK\r\n/);
  });
});

/** A UDP "server" that records every datagram it gets and never answers. */
async function recordingPeer(): Promise<{ port: number; datagrams: Buffer[]; close(): Promise<void> }> {
  const sock = createSocket('udp4');
  const datagrams: Buffer[] = [];
  sock.on('message', (m) => datagrams.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, datagrams, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

describe('refused SIP input through the CLI (issues 21.6, 21.7, 14.4)', () => {
  it('probe register/options/call with CR/LF, a malformed URI or a password in a URI: exit 2, nothing sent, password never echoed', { timeout: 90_000 }, async () => {
    const peer = await recordingPeer();
    const server = `127.0.0.1:${peer.port}`;
    const env = { CALLPROBE_1001_PASSWORD: 'lab1001pw' };
    try {
      const runs = [
        { args: ['register', INJECTION, '--server', server], out: /probe: user: ".*\\r\\nX-Evil: 1.*" contains a control character/ },
        { args: ['register', '1001', '--server', `sip:1001:s3cr3t@${server}`], out: /probe: server: sip:1001:\*\*\*@127\.0\.0\.1:\d+: a password inside a SIP URI is not allowed/ },
        { args: ['options', `sip:${server}\r\nX-Evil: 1`, '--timeout', '1s'], out: /probe: server: .* contains a control character/ },
        { args: ['options', 'sip:[bad', '--timeout', '1s'], out: /probe: server: "sip:\[bad" is not a valid URI/ },
        { args: ['options', `sip:1001:s3cr3t@${server}`, '--timeout', '1s'], out: /a password inside a SIP URI is not allowed/ },
        { args: ['call', '1001', '1002', '--direct', `sip:1002@${server}\r\nX-Evil: 1`, '--ring-timeout', '1s'], out: /contains a control character/ },
      ];
      for (const run of runs) {
        const r = await runCli(run.args, { env });
        expect(r.code, `${run.args.join(' ')}\n${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(run.out);
        expect(`${r.stdout}${r.stderr}`).not.toContain('s3cr3t');
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(peer.datagrams.map((d) => d.toString())).toEqual([]);
    } finally {
      await peer.close();
    }
  });

  it('probe config check refuses a password inside pbx.uri and does not print it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-sipinput-'));
    writeFileSync(join(dir, 'callprobe.yaml'), 'pbx: { uri: "sip:1001:s3cr3t@127.0.0.1" }\n');
    const r = await runCli(['config', 'check', join(dir, 'callprobe.yaml'), '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, errors: [{ path: 'pbx.uri', message: 'a password inside a SIP URI is not allowed: put it in accounts.<name>.password', line: 1 }] });
    expect(`${r.stdout}${r.stderr}`).not.toContain('s3cr3t');
  });
});
