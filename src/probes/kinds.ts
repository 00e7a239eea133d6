// The kind → function map (blackbox_exporter style): adding a probe kind is one
// module and one entry here. Each entry turns a validated probe definition plus
// the config into the kind's own spec and calls its ProbeFn. Modules are
// imported lazily so a suite that never places a call never loads rtp/.
import { accountEndpoint } from '../config/accounts.js';
import { networkSettings } from '../config/network.js';
import type { Config } from '../config/schema.js';
import type { ProbeDefinitionOf, ProbeKind } from '../config/probes.js';
import { effectiveTimeoutMs } from '../config/probes.js';
import type { ProbeContext } from './context.js';
import type { ProbeResult } from './result.js';
import { effectiveThresholds } from './thresholds.js';

export interface ProbeKindEntry<K extends ProbeKind> {
  run(ctx: ProbeContext, def: ProbeDefinitionOf<K>, config: Config): Promise<ProbeResult>;
  /** The kind judges its own thresholds (a scenario file overrides the probe's): the runner does not again. */
  ownThresholds?: true;
}

export type ProbeKindMap = { [K in ProbeKind]?: ProbeKindEntry<K> };

/** Per-target budget inside a probe's overall timeout, so one dead target leaves time for the others. */
function perTargetTimeout(def: { timeout?: number }): number | undefined {
  return def.timeout === undefined ? undefined : Math.max(100, Math.floor(def.timeout * 0.9));
}

/** The probe's own SIP timeout, a little inside the runner's, so the probe reports its phase first. */
function sipTimeout(timeoutMs: number): number {
  return Math.max(100, Math.floor(timeoutMs * 0.9));
}

export const PROBE_KIND_MAP: ProbeKindMap = {
  options: {
    async run(ctx, def, config) {
      const { probeOptions } = await import('./options.js');
      const net = networkSettings(config);
      return probeOptions(ctx, {
        ...(net.sipExternalIp !== undefined ? { externalAddress: net.sipExternalIp } : {}),
        dscp: net.sipDscp,
        target: def.target ?? config.pbx.uri,
        ...(def.transport !== undefined ? { transport: def.transport } : def.target === undefined ? { transport: config.pbx.transport } : {}),
        timeoutMs: sipTimeout(effectiveTimeoutMs(def, config)),
        ...(def.tls !== undefined ? { tls: { ...def.tls } } : {}),
      });
    },
  },
  register: {
    async run(ctx, def, config) {
      const { probeRegister } = await import('./register.js');
      const account = config.accounts[def.account];
      const hop = accountEndpoint(account, def, config.pbx);
      const net = networkSettings(config);
      return probeRegister(ctx, {
        ...(net.sipExternalIp !== undefined ? { externalAddress: net.sipExternalIp } : {}),
        dscp: net.sipDscp,
        server: hop.server,
        ...(hop.transport !== undefined ? { transport: hop.transport } : {}),
        ...(hop.domain !== undefined ? { domain: hop.domain } : {}),
        user: def.account,
        ...(account !== undefined ? { password: account.password } : {}),
        ...(account?.auth_user !== undefined ? { authUser: account.auth_user } : {}),
        expires: def.expires,
        timeoutMs: sipTimeout(effectiveTimeoutMs(def, config)),
        ...(def.tls !== undefined ? { tls: { ...def.tls } } : {}),
      });
    },
  },
  call: {
    async run(ctx, def, config) {
      const [{ buildCallSpec }, { probeCall }] = await Promise.all([import('./call/spec.js'), import('./call/probe.js')]);
      // Credentials come from the config only (the probe file was cross-checked against it).
      const built = buildCallSpec(
        {
          from: def.from,
          to: def.to,
          durationMs: def.duration,
          ringTimeoutMs: def.ring_timeout,
          ...(def.server !== undefined ? { server: def.server } : {}),
          ...(def.transport !== undefined ? { transport: def.transport } : {}),
          ...(def.codec !== undefined ? { codecs: [def.codec] } : {}),
          ...(def.tls?.insecure === true ? { insecure: true } : {}),
          srtp: def.media.srtp,
          allowInsecureKeys: def.media.allow_insecure_keys,
          audioAnalysis: def.audio.analysis,
          ...(def.audio.expect_echo ? { expectEcho: true } : {}),
          ...(def.audio.level_min_dbov !== undefined ? { audioLevelMinDbov: def.audio.level_min_dbov } : {}),
          // Each SIP transaction gets a share of the run's budget, so a dead PBX fails
          // in its phase (register/invite) before the runner's timeout hits.
          sipTimeoutMs: Math.min(10_000, sipTimeout(effectiveTimeoutMs(def, config) / 3)),
        },
        config,
        {},
      );
      if (!built.ok) {
        return { probe: 'call', success: false, failures: [{ check: 'call_spec', phase: 'config', message: built.message }] };
      }
      return probeCall(ctx, built.spec);
    },
  },
  scenario: {
    async run(ctx, def, config) {
      const { runScenarioFile } = await import('./scenario/probe.js');
      return runScenarioFile(ctx, {
        file: def.file,
        config,
        thresholds: effectiveThresholds(def, config),
        ...(def.server !== undefined ? { server: def.server } : {}),
        ...(def.transport !== undefined ? { transport: def.transport } : {}),
        srtp: def.media.srtp,
        allowInsecureKeys: def.media.allow_insecure_keys,
      });
    },
    ownThresholds: true,
  },
  cert: {
    async run(ctx, def, config) {
      const { certProbe } = await import('./cert.js');
      return certProbe(ctx, {
        name: def.name,
        targets: [...def.targets],
        warn_days: def.thresholds.cert_warn_days ?? config.thresholds.cert_warn_days,
        crit_days: def.thresholds.cert_crit_days ?? config.thresholds.cert_crit_days,
        timeout_ms: perTargetTimeout(def),
      });
    },
  },
};

/** Kinds this build can run (the others are rejected at run time with phase "config"). */
export function availableKinds(map: ProbeKindMap = PROBE_KIND_MAP): ProbeKind[] {
  return (Object.keys(map) as ProbeKind[]).sort();
}
