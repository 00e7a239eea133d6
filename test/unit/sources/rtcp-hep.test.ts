// Two HEP packets captured from Debian 12's rtpengine 10.5.3.5 started with
// `--homer=127.0.0.1:29060 --homer-protocol=udp --homer-id=7` while it relayed a
// call "smoke-call-1" (ng offer/answer), 50 PCMA packets each way, then an RTCP
// SR from A (50 packets sent) and an RR from B about A (fraction 15/256, 3 lost,
// jitter 40, LSR of that SR, DLSR 0.1 s). They pin the JSON shape the listener reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { decodeHep3 } from '../../../src/sources/hep.js';
import { HepListener } from '../../../src/sources/hep-listener.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

describe('rtpengine 10.5 RTCP over HEP (captured packets)', () => {
  it('are HEP type 5 with the Call-ID as correlation id', () => {
    const r = decodeHep3(fixture('rtpengine-10.5-homer-rr.hep'));
    expect(r.ok && [r.packet.protocolType, r.packet.correlationId, r.packet.captureId]).toEqual([5, 'smoke-call-1', 7]);
  });

  it('SR then RR → one rtcp_report with the SR packet count as the loss denominator', () => {
    const events: AnalyticsEvent[] = [];
    const l = new HepListener({ port: 0, onEvent: (e) => events.push(e) });
    l.handleDatagram(fixture('rtpengine-10.5-homer-sr.hep'));
    l.handleDatagram(fixture('rtpengine-10.5-homer-rr.hep'));
    expect(l.stats).toMatchObject({ packets: 2, rtcp: 2, rtcpErrors: 0, nonSip: 0 });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'rtcp_report', callId: 'smoke-call-1', reporterSsrc: 0xb0b0b0b0, sourceSsrc: 0xa0a0a0a0,
        fractionLost: 15 / 256, cumulativeLost: 3, jitterUnits: 40, dlsr: 6553, highestSeq: 1049, senderPackets: 50,
      }),
    ]);
  });
});
