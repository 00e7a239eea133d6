// Flags that several commands declare with the same words: one definition each,
// so `--help` says the same thing everywhere (design: common flags). A flag whose
// meaning differs per command (what --json prints, what --quiet leaves out)
// stays with its command.
import { Option } from 'commander';

/** `--config <file>` and where it is looked for; `what` says what the command reads from it. */
export function configFlag(what = 'config file'): Option {
  return new Option('--config <file>', `${what} (default: $CALLPROBE_CONFIG, ./callprobe.yaml, /etc/callprobe/callprobe.yaml)`);
}

/** `--log-level` of the one-shot network checks (no default: $CALLPROBE_LOG_LEVEL, else warn). */
export function logLevelFlag(): Option {
  return new Option('--log-level <level>', 'log level on stderr (debug, info, warn, error)');
}

/** `--transport` of a single SIP request (options, register); parsed by parseTransport() in options.ts. */
export function transportFlag(): Option {
  return new Option('--transport <udp|tcp|tls>', 'transport (default: from the URI, sips: → tls, else udp)');
}

/** `--insecure` of a SIP-over-TLS request (options, register); read by tlsOptions() in options.ts. */
export function insecureFlag(): Option {
  return new Option('--insecure', 'TLS: accept self-signed or mismatching certificates');
}

/** `--ca <file>`: the CAs a SIP-over-TLS request trusts; read by tlsOptions() in options.ts. */
export function caFlag(): Option {
  return new Option('--ca <file>', 'TLS: PEM file of CA certificates to trust');
}

/** `--allow-insecure-keys` of the commands that place SRTP calls (call, run); read as flags.allowInsecureKeys. */
export function allowInsecureKeysFlag(): Option {
  return new Option('--allow-insecure-keys', 'with --srtp: allow SDES keys over plain UDP/TCP signalling (anyone on the path can decrypt)');
}
