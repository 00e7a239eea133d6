import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSdNotifier, watchdogInterval } from '../../../src/agent/systemd.js';
import { createLogger } from '../../../src/log.js';
import { requiredInCi } from '../../ci-required.js';

const logger = createLogger('silent');

describe('watchdogInterval', () => {
  it('pings at half of WatchdogSec, only for our PID', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeNull();
    expect(watchdogInterval({}, 7)).toBeNull();
    expect(watchdogInterval({ WATCHDOG_USEC: 'x' }, 7)).toBeNull();
  });
});

describe('createSdNotifier', () => {
  afterEach(() => vi.useRealTimers());

  it('is a no-op outside systemd', async () => {
    const spawn = vi.fn(async () => 0);
    const n = createSdNotifier({ logger, env: {}, spawn });
    await n.ready();
    await n.stopping();
    expect(n.enabled).toBe(false);
    expect(spawn).not.toHaveBeenCalled();
  });

  it('pings the watchdog only while healthy', async () => {
    vi.useFakeTimers();
    const spawn = vi.fn(async (_args: string[]) => 0);
    const n = createSdNotifier({ logger, env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '2000000' }, pid: 9, spawn });
    let healthy = true;
    n.startWatchdog(() => healthy);
    await vi.advanceTimersByTimeAsync(2100);
    expect(spawn.mock.calls.map((c) => c[0])).toEqual([
      ['--pid=9', 'WATCHDOG=1'],
      ['--pid=9', 'WATCHDOG=1'],
    ]);
    healthy = false;
    await vi.advanceTimersByTimeAsync(3000);
    expect(spawn).toHaveBeenCalledTimes(2);
    n.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});

const canTestForReal = requiredInCi(
  existsSync('/usr/bin/systemd-notify') && spawnSync('python3', ['-c', 'import socket'], { encoding: 'utf8' }).status === 0,
  'systemd-notify (package systemd) and python3',
);

describe.skipIf(!canTestForReal)('createSdNotifier with the real systemd-notify', () => {
  it('delivers READY=1, MAINPID and STATUS to $NOTIFY_SOCKET', async () => {
    const sock = join(mkdtempSync(join(tmpdir(), 'cp-notify-')), 'notify.sock');
    // Node cannot bind AF_UNIX datagram sockets; Python plays systemd's side.
    const receiver = spawn('python3', [
      '-c',
      `import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\ns.settimeout(10)\nprint(s.recv(4096).decode(), flush=True)`,
    ]);
    let out = '';
    receiver.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const done = new Promise((r) => receiver.on('exit', r));
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const n = createSdNotifier({ logger, env: { NOTIFY_SOCKET: sock } });
    await n.ready('3 probes');
    await done;
    expect(out.trim().split('\n').sort()).toEqual([`MAINPID=${process.pid}`, 'READY=1', 'STATUS=3 probes']);
  });
});
