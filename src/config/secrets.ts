// Secret references: a config value is either a literal, `env:NAME` or
// `file:/path`. Relative file names are looked up in $CREDENTIALS_DIRECTORY,
// where systemd's LoadCredential= puts them, so the unit file and the config
// can name the credential instead of a path that differs per host.
import { isAbsolute, join } from 'node:path';
import { MAX_SECRET_BYTES, readBoundedFile } from './read-file.js';

export interface SecretEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  /** Directory for relative `file:` names when $CREDENTIALS_DIRECTORY is unset (the config file's directory). */
  baseDir: string;
}

export type SecretResolution = { ok: true; value: string } | { ok: false; message: string };

/** Resolves one reference. Never throws; never puts the secret into the message. */
export function resolveSecret(ref: string, where: SecretEnvironment): SecretResolution {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { ok: false, message: `env:${name} is not a valid variable name` };
    const value = where.env[name];
    if (value === undefined || value === '') return { ok: false, message: `environment variable ${name} is not set` };
    return { ok: true, value };
  }
  if (ref.startsWith('file:')) {
    const name = ref.slice(5);
    if (name === '') return { ok: false, message: 'file: needs a path' };
    const credDir = where.env.CREDENTIALS_DIRECTORY;
    const path = isAbsolute(name) ? name : join(credDir !== undefined && credDir !== '' ? credDir : where.baseDir, name);
    const read = readBoundedFile(path, MAX_SECRET_BYTES);
    if (!read.ok) return { ok: false, message: `file ${path} ${read.message}` };
    // Credential files usually end with a newline that is not part of the secret.
    const value = read.text.replace(/\r?\n$/, '');
    if (value === '') return { ok: false, message: `file ${path} is empty` };
    return { ok: true, value };
  }
  if (ref === '') return { ok: false, message: 'empty secret' };
  return { ok: true, value: ref };
}
