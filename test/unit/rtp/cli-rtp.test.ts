// `probe rtp` (src/cli/rtp.ts) lives here because it is a thin face of rtp/.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/exit.js';
import { parseHostPort, renderStreams } from '../../../src/cli/rtp.js';

describe('probe rtp flag parsing and rendering', () => {
  it('parses ip:port and [v6]:port', () => {
    expect(parseHostPort('127.0.0.1:16000', 'bind')).toEqual({ address: '127.0.0.1', port: 16000 });
    expect(parseHostPort('[::1]:16002', 'to')).toEqual({ address: '::1', port: 16002 });
  });

  it.each(['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', ':16000', '::1:16000', 'host:port'])('rejects %s', (text) => {
    expect(() => parseHostPort(text, 'bind')).toThrow(UsageError);
    expect(() => parseHostPort(text, 'bind')).toThrow(/--bind/);
  });

  it('renders a table row per stream, or says nothing came', () => {
    expect(renderStreams([])).toBe('no RTP received\n');
    const table = renderStreams([
      {
        ssrc: 0xca110000, ssrc_hex: '0xCA110000', source: '127.0.0.1:16080', payload_type: 8, codec: 'PCMA',
        packets_expected: 503, packets_received: 500, packets_lost: 3, loss_percent: 0.6, duplicates: 0, out_of_order: 1,
        longest_silence_ms: 60, rtcp_bye: true,
        jitter_ms: 0.256, jitter_max_ms: 0.455, jitter_mean_ms: 0.25, burst_ratio: 1, r_factor: 91.02, mos: 4.37,
      },
    ]);
    expect(table.split('\n')[1]).toMatch(/^0xCA110000 +127\.0\.0\.1:16080 +8 +500 +3 +0\.60 +0 +1 +0\.256 +0\.455 +91\.02 +4\.37$/);
  });
});
