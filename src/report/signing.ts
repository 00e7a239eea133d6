// Standard Webhooks signatures (https://www.standardwebhooks.com/, spec "Signature scheme"):
//   webhook-signature: v1,<base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`))>
// The id stays the same across retries and restarts (receivers de-duplicate on
// it); the timestamp is the attempt's, so a replayed spool entry stays inside a
// receiver's tolerance window (5 minutes in the reference libraries).
import { createHmac } from 'node:crypto';

const WHSEC = 'whsec_';

/**
 * The HMAC key. `whsec_<base64>` is the Standard Webhooks convention (the key
 * is the decoded bytes, as the reference libraries do); any other string is
 * used as its UTF-8 bytes (receivers: `new Webhook(secret, { format: 'raw' })`).
 */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(WHSEC) ? Buffer.from(secret.slice(WHSEC.length), 'base64') : Buffer.from(secret, 'utf8');
}

export function signStandardWebhook(secret: string, id: string, timestampS: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestampS}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers; without a secret only id and timestamp. */
export function standardWebhookHeaders(secret: string | undefined, id: string, nowMs: number, body: string): Record<string, string> {
  const timestampS = Math.floor(nowMs / 1000);
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestampS) };
  if (secret) headers['webhook-signature'] = signStandardWebhook(secret, id, timestampS, body);
  return headers;
}
