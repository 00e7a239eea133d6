// baresip 1.0.0 headless: config writer and ctrl_tcp client (lab-facts 3b).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface BaresipConf {
  user: string;
  password: string;
  /** SIP port; baresip also binds sipPort + 1 */
  sipPort: number;
  rtpPortMin: number;
  rtpPortMax: number;
  ctrlPort: number;
  answermode: 'auto' | 'manual';
  /** 8 kHz mono WAV used as the microphone; longer than any call */
  audioFile: string;
  /** registrar host:port (default 127.0.0.1:5060; another value becomes the account's outbound proxy) */
  registrar?: string;
  /** address to listen on (default 127.0.0.1; a namespace's address for impairment tests) */
  address?: string;
  /** false: no REGISTER (regint=0), the instance is called directly at address:sipPort */
  register?: boolean;
}

/** Write <dir>/config, accounts, contacts for one baresip instance; returns dir. */
export function writeBaresipConf(dir: string, c: BaresipConf): string {
  fs.mkdirSync(dir, { recursive: true });
  const outbound = c.registrar && c.registrar !== '127.0.0.1:5060' ? `outbound="sip:${c.registrar}";` : '';
  const address = c.address ?? '127.0.0.1';
  const config = [
    'poll_method epoll',
    `sip_listen ${address}:${c.sipPort}`,
    'sip_trans_def udp',
    `audio_player alsa,null`,
    `audio_source aufile,${c.audioFile}`,
    `audio_alert alsa,null`,
    'audio_level no',
    `rtp_ports ${c.rtpPortMin}-${c.rtpPortMax}`,
    'rtp_stats yes',
    'jitter_buffer_delay 0-20',
    `net_interface ${address}`,
    'net_prefer_ipv6 no',
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    // Wideband far end (issue 17): baresip's own G.722 and libopus. The WAV source and the
    // (null) player stay at 8 kHz mono; baresip resamples to the codec's rate.
    'module g722.so',
    'module opus.so',
    'ausrc_srate 8000',
    'ausrc_channels 1',
    'auplay_srate 8000',
    'auplay_channels 1',
    'module aufile.so',
    'module alsa.so',
    'module_tmp uuid.so',
    'module_tmp account.so',
    'module_app contact.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    'module_app rtcpsummary.so',
    `ctrl_tcp_listen 127.0.0.1:${c.ctrlPort}`,
    '',
  ].join('\n');
  const account =
    `<sip:${c.user}@${address}>;auth_user=${c.user};auth_pass=${c.password};` +
    `${outbound}answermode=${c.answermode};audio_codecs=PCMA,PCMU,G722/16000/1,opus/48000/2;ptime=20;regint=${c.register === false ? 0 : 600}\n`;
  fs.writeFileSync(path.join(dir, 'config'), config);
  fs.writeFileSync(path.join(dir, 'accounts'), account);
  fs.writeFileSync(path.join(dir, 'contacts'), '');
  return dir;
}

export interface BaresipReply {
  response?: boolean;
  ok?: boolean;
  data?: string;
  token?: string;
  event?: boolean;
  type?: string;
  [k: string]: unknown;
}

/** Encode one netstring: `<len>:<payload>,` */
export function netstring(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
}

/** Split complete netstrings off the front of buf; returns payloads and the rest. */
export function parseNetstrings(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let off = 0;
  for (;;) {
    const colon = buf.indexOf(0x3a, off);
    if (colon < 0) break;
    const len = Number(buf.subarray(off, colon).toString('ascii'));
    if (!Number.isInteger(len) || len < 0) throw new Error('bad netstring length');
    const end = colon + 1 + len;
    if (buf.length < end + 1) break;
    if (buf[end] !== 0x2c) throw new Error('netstring without trailing comma');
    messages.push(buf.subarray(colon + 1, end).toString('utf8'));
    off = end + 1;
  }
  return { messages, rest: buf.subarray(off) };
}

export interface BaresipCommandOptions {
  host?: string;
  timeoutMs?: number;
  /** called for every event received while waiting for the response */
  onEvent?: (e: BaresipReply) => void;
}

/**
 * Send one ctrl_tcp command (`{"command","params","token"}`) and resolve with the
 * response carrying the same token; events that arrive meanwhile go to onEvent.
 */
export function baresipCommand(
  port: number,
  command: string,
  params?: string,
  opts: BaresipCommandOptions = {},
): Promise<BaresipReply> {
  const token = `t${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  return new Promise<BaresipReply>((resolve, reject) => {
    const sock = net.connect({ host: opts.host ?? '127.0.0.1', port });
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`baresip ${port}: no response to ${command} within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    const finish = (err: Error | null, r?: BaresipReply): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(r as BaresipReply);
    };
    sock.on('connect', () => {
      const msg: Record<string, string> = { command, token };
      if (params !== undefined) msg.params = params;
      sock.write(netstring(JSON.stringify(msg)));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let parsed;
      try {
        parsed = parseNetstrings(buf);
      } catch (e) {
        finish(e as Error);
        return;
      }
      buf = parsed.rest;
      for (const m of parsed.messages) {
        const obj = JSON.parse(m) as BaresipReply;
        if (obj.response && obj.token === token) {
          finish(null, obj);
          return;
        }
        if (obj.event) opts.onEvent?.(obj);
      }
    });
    sock.on('error', (e) => finish(e));
  });
}
