// sd_notify (READY=1, WATCHDOG=1, STOPPING=1). Node has no AF_UNIX datagram
// sockets, so the message goes through the `systemd-notify` binary with
// --pid=<our pid>; the unit therefore needs NotifyAccess=all (systemd accepts
// the datagram from the helper because it runs in the service's cgroup).
// Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

export type NotifySpawn = (args: string[], notifySocket: string) => Promise<number>;

export interface SdNotifier {
  readonly enabled: boolean;
  /** Milliseconds between WATCHDOG=1 pings (half of WatchdogSec), or null when no watchdog is configured. */
  readonly watchdogIntervalMs: number | null;
  send(...assignments: string[]): Promise<void>;
  ready(status?: string): Promise<void>;
  stopping(): Promise<void>;
  /** Starts pinging the watchdog while `healthy()` says so; a stuck loop stops the pings and systemd restarts us. */
  startWatchdog(healthy: () => boolean): void;
  close(): void;
}

function defaultSpawn(args: string[], notifySocket: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', args, { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: notifySocket } });
    child.on('error', () => resolve(-1));
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

/** Parses $WATCHDOG_USEC / $WATCHDOG_PID as sd_watchdog_enabled(3) does. */
export function watchdogInterval(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1000, Math.floor(usec / 1000 / 2));
}

export function createSdNotifier(opts: {
  env?: Readonly<Record<string, string | undefined>>;
  pid?: number;
  logger: Logger;
  spawn?: NotifySpawn;
}): SdNotifier {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const run = opts.spawn ?? defaultSpawn;
  const socket = env.NOTIFY_SOCKET ?? '';
  const enabled = socket !== '';
  const interval = enabled ? watchdogInterval(env, pid) : null;
  let timer: NodeJS.Timeout | undefined;
  let warned = false;

  const send = async (...assignments: string[]) => {
    if (!enabled) return;
    const code = await run([`--pid=${pid}`, ...assignments], socket);
    if (code !== 0 && !warned) {
      warned = true;
      opts.logger.warn({ code, assignments }, 'systemd-notify failed (is it installed? NotifyAccess=all set?)');
    }
  };

  return {
    enabled,
    watchdogIntervalMs: interval,
    send,
    ready: (status) => send('READY=1', ...(status === undefined ? [] : [`STATUS=${status}`])),
    stopping: () => send('STOPPING=1'),
    startWatchdog(healthy) {
      if (interval === null || timer !== undefined) return;
      timer = setInterval(() => {
        if (healthy()) void send('WATCHDOG=1');
      }, interval);
      timer.unref();
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
