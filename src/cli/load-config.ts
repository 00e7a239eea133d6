// Config for one-shot commands: loaded when --config names it or the default
// search finds one; these commands also work from flags and environment alone.
import type { Config } from '../config/schema.js';
import { UsageError } from './exit.js';

export async function maybeLoadConfig(file: string | undefined): Promise<Config | undefined> {
  const { loadConfig, findConfigFile } = await import('../config/load.js');
  const { ConfigError } = await import('../config/errors.js');
  try {
    if (file === undefined) {
      try {
        findConfigFile();
      } catch {
        return undefined; // no config anywhere: flags and CALLPROBE_<EXT>_PASSWORD
      }
    }
    return loadConfig(file !== undefined ? { file } : {}).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}
