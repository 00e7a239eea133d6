// Re-exports only (design.md: index.ts files hold no code).
export { ScenarioError, loadScenario, parseScenarioText, formatScenarioIssue, resolveScenarioFile } from './load.js';
export type { Scenario, Step, StepKind } from './schema.js';
export type { StepResult } from './executor.js';
export type { ScenarioCall } from './driver.js';
export * from './probe.js';
