// The HTTP listener's TLS files (http.tls_server_config), read the way every
// user-named file is (regular, bounded) and checked by OpenSSL. Apart from
// http.ts so that loading the config does not load node:tls.
import { createSecureContext } from 'node:tls';
import type { ConfigIssue } from './errors.js';
import { MAX_CONFIG_BYTES, readBoundedFile } from './read-file.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** Reads and checks the cert and key (the agent at start and on change, `probe config check`); issues name the key. */
export function readTlsMaterial(tls: { cert_file: string; key_file: string }): TlsMaterial | ConfigIssue[] {
  const cert = readBoundedFile(tls.cert_file, MAX_CONFIG_BYTES);
  const key = readBoundedFile(tls.key_file, MAX_CONFIG_BYTES);
  const issues: ConfigIssue[] = [];
  if (!cert.ok) issues.push({ path: 'http.tls_server_config.cert_file', message: `${tls.cert_file} ${cert.message}` });
  if (!key.ok) issues.push({ path: 'http.tls_server_config.key_file', message: `${tls.key_file} ${key.message}` });
  if (!cert.ok || !key.ok) return issues;
  try {
    createSecureContext({ cert: cert.text, key: key.text });
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line"), never the key itself.
    return [{ path: 'http.tls_server_config', message: `${tls.cert_file} / ${tls.key_file}: not a usable certificate and key (${(err as Error).message})` }];
  }
  return { cert: cert.text, key: key.text };
}
