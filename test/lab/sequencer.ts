// Orders the integration files for two workers (vitest.config.ts, concurrency.ts):
// first the untimed files, a lab one and a lab-free one alternating (so the two
// workers do not queue on lab.lock), each kind in its list's order in concurrency.ts
// (longest first), then the files that run alone, in vitest's order. Other projects
// keep vitest's order.
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { classify, listIndex } from './concurrency.js';

export class IntegrationSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const integration = sorted.filter((f) => f.project.name === 'integration');
    const of = (kind: ReturnType<typeof classify>): TestSpecification[] => integration.filter((f) => classify(f.moduleId) === kind);
    const byList = (a: TestSpecification, b: TestSpecification): number => listIndex(a.moduleId) - listIndex(b.moduleId);
    const lab = of('untimed-lab').sort(byList);
    const local = of('untimed-local').sort(byList);
    const untimed: TestSpecification[] = [];
    for (let i = 0; i < Math.max(lab.length, local.length); i++) {
      const l = lab[i];
      const s = local[i];
      if (l) untimed.push(l);
      if (s) untimed.push(s);
    }
    return [...sorted.filter((f) => f.project.name !== 'integration'), ...untimed, ...of('alone')];
  }
}
