// Issue 21.9: a one-shot command's SIP socket binds the address the route to
// the server uses, not 0.0.0.0. The far end reads the socket table
// (/proc/net/udp) for the port the OPTIONS came from while the CLI waits for
// its answer.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { routeSourceAddress } from '../../../src/sip/transport.js';
import { createResponse, parseMessage, serializeMessage } from '../../../src/sip/message.js';
import { runCli } from './run-cli.js';

/** Local address ("a.b.c.d") of the IPv4 UDP socket bound to `port`, from /proc/net/udp. */
function boundAddress(port: number): string | undefined {
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const m = /^\s*\d+: ([0-9A-F]{8}):([0-9A-F]{4}) /.exec(line);
    if (m && parseInt(m[2] ?? '', 16) === port) {
      const hex = m[1] ?? '';
      // little-endian on x86/arm64: 0100007F = 127.0.0.1
      return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
    }
  }
  return undefined;
}

let farEnd: dgram.Socket | undefined;
afterEach(() => {
  farEnd?.close();
  farEnd = undefined;
});

describe('SIP socket of a one-shot command', () => {
  it('binds the route source address toward the server, not the wildcard', async () => {
    expect(await routeSourceAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(await routeSourceAddress('127.0.0.9')).toMatch(/^127\./);
    const seen: Array<string | undefined> = [];
    const sock = dgram.createSocket('udp4');
    farEnd = sock;
    sock.on('message', (data, rinfo) => {
      seen.push(boundAddress(rinfo.port));
      const parsed = parseMessage(data);
      if (parsed.ok && parsed.message.kind === 'request') sock.send(serializeMessage(createResponse(parsed.message, 200, 'OK')), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const { port } = sock.address();
    const run = await runCli(['options', `sip:127.0.0.1:${port}`, '--json'], { timeoutMs: 20_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]).toBe('127.0.0.1');
  });
});
