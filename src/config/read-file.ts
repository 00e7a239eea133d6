// Bounded, non-blocking reads of the files a user names: configs, probe and
// scenario files, `file:` secrets. A FIFO, a device (/dev/zero) or a 50 MB
// YAML must not hang the process or eat its memory (issue 21.5): only regular
// files are read, and only up to a cap.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Secrets are passwords and keys; 64 KiB is far beyond any of them. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Config, probe and scenario YAML: ours are a few kB; 4 MiB parses in well under a second. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export type FileRead = { ok: true; text: string } | { ok: false; message: string };

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8. Never blocks on a FIFO
 * (opened with O_NONBLOCK, then refused by fstat), never reads more than
 * maxBytes + 1 bytes (files like /proc/... report size 0), never throws.
 * Messages name the problem, not the path (callers add it).
 */
export function readBoundedFile(path: string, maxBytes: number): FileRead {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, message: `not readable (${typeof code === 'string' ? code : 'error'})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, message: `is ${kindOf(st)}, not a regular file` };
    if (st.size > maxBytes) return { ok: false, message: `is larger than ${sizeText(maxBytes)} (${st.size} bytes)` };
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let used = 0;
    for (;;) {
      const n = readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
      if (used > maxBytes) return { ok: false, message: `is larger than ${sizeText(maxBytes)}` };
    }
    return { ok: true, text: buf.toString('utf8', 0, used) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, message: `not readable (${typeof code === 'string' ? code : 'error'})` };
  } finally {
    closeSync(fd);
  }
}
