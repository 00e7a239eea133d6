// A test that needs a tool from the lab install may skip on a developer's
// machine without it, never in CI: under CI=true a missing tool fails the file.
export function requiredInCi(present: boolean, what: string): boolean {
  if (!present && process.env.CI === 'true') {
    throw new Error(`CI: ${what} is missing; install it with test/lab/install.sh`);
  }
  return present;
}
