// Start-up: commander's command.js does `require('node:child_process')` at load
// for executable subcommands ("git-style" `probe-foo` binaries), which probe does
// not use. Loading child_process pulls in net, stream, dgram and friends: ~6-8 ms
// of the `probe --help` budget on the 2-core VM. While `load` runs (and only
// then), node:child_process is handed out as a stand-in whose functions load
// the real module on first call, so behaviour is unchanged if it is ever used.
import Module from 'node:module';

const CHILD_PROCESS = new Set(['node:child_process', 'child_process']);

/** A stand-in for node:child_process: every property loads the real module on first use. */
function lazyChildProcess(loadReal: () => unknown): object {
  let real: Record<string | symbol, unknown> | undefined;
  const load = (): Record<string | symbol, unknown> => (real ??= loadReal() as Record<string | symbol, unknown>);
  return new Proxy(
    {},
    {
      get: (_target, key) => {
        const value = load()[key];
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(load()) : value;
      },
      has: (_target, key) => key in load(),
    },
  );
}

/** Runs `load` (an import of commander or of a module that imports it) with node:child_process deferred. */
export async function withLazyChildProcess<T>(load: () => Promise<T>): Promise<T> {
  const proto = Module.prototype as unknown as { require: (this: unknown, id: string) => unknown };
  const original = proto.require;
  proto.require = function (this: unknown, id: string): unknown {
    // The stand-in loads through the original require, so it works inside this window too.
    return CHILD_PROCESS.has(id) ? lazyChildProcess(() => original.call(this, 'node:child_process')) : original.call(this, id);
  };
  try {
    return await load();
  } finally {
    proto.require = original;
  }
}
