// A self-signed certificate for 127.0.0.1 made with the openssl CLI, for tests
// whose TLS peer (a far end, the agent's HTTPS listener) uses the test's own cert.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requiredInCi } from '../../ci-required.js';

/** Whether openssl is there (a failure under CI=true when it is not). */
export const hasOpenssl = requiredInCi(
  (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })(),
  'openssl',
);

export interface TestCert {
  /** Paths of the PEM files. */
  cert: string;
  key: string;
  fingerprint: string;
}

/** An EC P-256 certificate with CN=name and subjectAltName IP:127.0.0.1, valid 2 days, in dir/<name>.{crt,key}. */
export function makeCert(dir: string, name: string): TestCert {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}
