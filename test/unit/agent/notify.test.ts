import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSdNotifier, watchdogInterval } from '../../../src/agent/notify.js';
import { createLogger } from '../../../src/log.js';

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
