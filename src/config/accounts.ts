// Where an extension's password comes from when no config names it.

/** The password env var for an extension: 1001 → CALLPROBE_1001_PASSWORD. */
export function passwordEnvName(ext: string): string {
  return `CALLPROBE_${ext.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}_PASSWORD`;
}
