// What the config says about the probe's place in the network: the public addresses
// behind a NAT (sip.external_ip, rtp.external_ip) and the DSCP marks (qos).
import type { Config } from './schema.js';

export interface NetworkSettings {
  /** Written into Via sent-by and Contact. */
  sipExternalIp?: string;
  /** Written into SDP c= and o=. */
  rtpExternalIp?: string;
  sipDscp: number;
  rtpDscp: number;
}

export function networkSettings(config: Pick<Config, 'sip' | 'rtp' | 'qos'>): NetworkSettings {
  return {
    ...(config.sip.external_ip !== undefined ? { sipExternalIp: config.sip.external_ip } : {}),
    ...(config.rtp.external_ip !== undefined ? { rtpExternalIp: config.rtp.external_ip } : {}),
    sipDscp: config.qos.sip_dscp,
    rtpDscp: config.qos.rtp_dscp,
  };
}
