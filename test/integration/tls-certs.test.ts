// The lab's TLS listeners carry the certificates the cert-expiry probe is tested
// against: 5061 valid 365 days (CN pbx.lab), 5062 valid 5 days (CN expiring.pbx.lab).
// Read with `openssl s_client`, the way an operator would check them.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { LAB } from '../lab/lab.js';

const DAY_MS = 86_400_000;

function serverCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `${LAB.host}:${port}`, '-servername', 'pbx.lab'],
      { timeout: 10_000 },
      (err, stdout) => {
        const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
        if (pem) resolve(new X509Certificate(pem));
        else reject(err ?? new Error(`no certificate from ${port}: ${stdout}`));
      },
    );
    child.stdin?.end();
  });
}

function optionsOverTls(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // self-signed lab certificate: identity is not what this test is about
    const s = tls.connect({ host: LAB.host, port, rejectUnauthorized: false }, () => {
      const { port: lp } = s.address() as { port: number };
      s.write(
        `OPTIONS sip:${LAB.host}:${port};transport=tls SIP/2.0\r\n` +
          `Via: SIP/2.0/TLS ${LAB.host}:${lp};branch=z9hG4bK-tls-${Date.now()}\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:tlscheck@${LAB.host}>;tag=t1\r\nTo: <sip:${LAB.host}>\r\n` +
          `Call-ID: tls-${Date.now()}@${LAB.host}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    let data = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply over TLS ${port}: ${data}`));
    }, 5000);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      data += d;
      if (data.includes('\r\n\r\n')) {
        clearTimeout(t);
        s.destroy();
        resolve(data.split('\r\n')[0] ?? '');
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

describe('lab TLS certificates', () => {
  it('5062 serves a certificate that expires in under 7 days (CN expiring.pbx.lab)', async () => {
    const cert = await serverCertificate(LAB.ports.tlsExpiring);
    const daysLeft = (Date.parse(cert.validTo) - Date.now()) / DAY_MS;
    expect(cert.subject).toContain('CN=expiring.pbx.lab');
    expect(daysLeft).toBeGreaterThan(3);
    expect(daysLeft).toBeLessThan(7);
  });

  it('5061 serves a certificate valid for over 300 days (CN pbx.lab, SAN IP 127.0.0.1)', async () => {
    const cert = await serverCertificate(LAB.ports.tls);
    const daysLeft = (Date.parse(cert.validTo) - Date.now()) / DAY_MS;
    expect(cert.subject).toContain('CN=pbx.lab');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(daysLeft).toBeGreaterThan(300);
  });

  it('answers OPTIONS over TLS on 5061', async () => {
    expect(await optionsOverTls(LAB.ports.tls)).toBe('SIP/2.0 200 OK');
  });
});
