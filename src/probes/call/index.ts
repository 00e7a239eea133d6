// Re-exports only (design.md: index.ts files hold no code).
export * from './probe.js';
