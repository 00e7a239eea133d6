// Dial-target resolution: the Request-URI for a dialled number.
import type { UserAgent } from '../sip/ua.js';
import { escapeSipUser } from '../sip/uri.js';

/**
 * sip:<to>@<server host>[:port] for a number or extension; a SIP URI is used as is. The port
 * matters: a proxy on a non-default port does not treat a portless 127.0.0.1 as itself and
 * would forward the call elsewhere. The number is escaped as a URI user part: "#21" → "%2321".
 */
export function dialTarget(to: string, ua: UserAgent): string {
  if (to.includes(':')) return to;
  const { host, port } = ua.serverUri;
  const h = host.includes(':') ? `[${host}]` : host;
  return `sip:${escapeSipUser(to)}@${h}${port !== undefined ? `:${port}` : ''}`;
}
