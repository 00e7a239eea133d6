// vitest 4 globalSetup for the `integration` project: takes the machine-wide lab
// lock, starts the whole lab once, hands the workdir to the test workers (env +
// provide), and at the end stops every lab process by PID. Teardown FAILS the run
// when a process outlived it or a test left one running. Workdir: deleted when
// every test passed, otherwise kept and printed (CALLPROBE_LAB_KEEP=1 always keeps it).
import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { LAB, missingTools, startLab, stopLab } from './lab.js';
import { acquireLabLock } from './lock.js';

declare module 'vitest' {
  export interface ProvidedContext {
    labWorkdir: string;
  }
}

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = missingTools();
  if (missing.length) {
    const how = 'install them with: sudo bash test/lab/install.sh';
    throw new Error(
      process.env.CI === 'true'
        ? `CI: lab tools missing: ${missing.join(', ')}; ${how}`
        : `integration tests need the PBX lab; missing: ${missing.join(', ')}; ${how}`,
    );
  }
  const lock = await acquireLabLock(LAB.lockFile, 900, log);
  let handle;
  try {
    handle = await startLab({ log });
  } catch (e) {
    await lock.release();
    throw e;
  }
  log(`lab: started in ${handle.startMs} ms, workdir ${handle.workdir} (lock ${lock.inherited ? 'held by caller' : 'taken'})`);
  project.provide('labWorkdir', handle.workdir);
  const workdir = handle.workdir;

  return async () => {
    const t0 = performance.now();
    const res = await stopLab({ workdir });
    await lock.release();
    const failedTests = project.vitest.state.getCountOfFailedTests();
    const failedFiles = project.vitest.state.getFailedFilepaths().length;
    const problems: string[] = [];
    for (const r of res.leftovers) problems.push(`test left ${r.name} (pid ${r.pid}) running: ${r.cmd.slice(0, 160)}`);
    for (const r of res.survivors) problems.push(`lab process ${r.name} (pid ${r.pid}) was still alive after stopLab: ${r.cmd.slice(0, 160)}`);
    const lab = res.killed.filter((r) => !res.leftovers.includes(r));
    for (const r of lab) problems.push(`${r.name} (pid ${r.pid}) ignored SIGTERM and was SIGKILLed`);
    log(`lab: stopped in ${Math.round(performance.now() - t0)} ms`);
    if (problems.length || failedTests > 0 || failedFiles > 0 || process.env.CALLPROBE_LAB_KEEP === '1') {
      // keep logs, pcaps and configs; drop the ~10 MB of regenerable audio
      for (const f of ['lab_audio_long.wav', 'lab_audio.wav', 'lab_audio.alaw', 'lab_audio.ulaw']) {
        fs.rmSync(path.join(workdir, f), { force: true });
      }
      log(`lab: logs kept in ${workdir}`);
    } else {
      fs.rmSync(workdir, { recursive: true, force: true });
    }
    if (problems.length) {
      // vitest only logs teardown errors ("error during close"); make the run fail
      process.exitCode = 1;
      throw new Error(`lab teardown: ${problems.length} problem(s):\n  ${problems.join('\n  ')}\nlogs: ${workdir}`);
    }
  };
}
