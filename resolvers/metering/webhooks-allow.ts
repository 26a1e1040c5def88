import ipaddr from 'ipaddr.js';
import { InvalidInputError } from '../errors';

/**
 * Where alarm webhooks may go. Public unicast addresses always; loopback, link-local (the
 * 169.254.169.254 metadata address among them), private, unique-local (fc00::/7), CGNAT,
 * multicast and reserved ranges only when STRATUS_WEBHOOK_ALLOW lists them (a CIDR, an address
 * or a host name). Checked on the URL when an alarm is written, and on every resolved address
 * when a webhook is sent (a name may resolve elsewhere by then).
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** An IPv4-mapped IPv6 address counts as the IPv4 address it carries. */
function normalize(address: Address): Address {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress())
    return (address as ipaddr.IPv6).toIPv4Address();
  return address;
}

function parseAddress(text: string): Address | null {
  const bare = text.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) ? normalize(ipaddr.parse(bare)) : null;
}

function allowListMatches(allow: readonly string[], address: Address): boolean {
  for (const entry of allow) {
    if (entry.includes('/')) {
      try {
        const [net, bits] = ipaddr.parseCIDR(entry);
        const range = normalize(net);
        if (range.kind() !== address.kind()) continue;
        // Same kind on both sides: the IPv4 signature stands for either.
        if ((address as ipaddr.IPv4).match(range as ipaddr.IPv4, bits)) return true;
      } catch {
        // A malformed entry matches nothing.
      }
    } else {
      const single = parseAddress(entry);
      if (single && single.kind() === address.kind() && single.toString() === address.toString())
        return true;
    }
  }
  return false;
}

/** Null when webhooks may reach this address, else why not. */
export function refusedAddress(allow: readonly string[], text: string): string | null {
  const address = parseAddress(text);
  if (!address) return `"${text}" is not an IP address`;
  const range = address.range();
  if (range === 'unicast') return null;
  if (allowListMatches(allow, address)) return null;
  return `${address.toString()} is a ${range} address, refused unless STRATUS_WEBHOOK_ALLOW lists it`;
}

function hostAllowed(allow: readonly string[], host: string): boolean {
  return allow.some((entry) => entry.toLowerCase() === host.toLowerCase());
}

/**
 * A webhook URL as given to createAlarm/updateAlarm: http(s), with a host that is not a
 * refused address; InvalidInputError naming `field` otherwise.
 */
export function checkWebhookUrl(allow: readonly string[], field: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(field, `"${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidInputError(field, `Webhook URLs must be http or https, got ${url.protocol}`);
  if (url.username || url.password)
    throw new InvalidInputError(field, 'Webhook URLs may not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (hostAllowed(allow, host)) return url;
  if (parseAddress(host)) {
    const refused = refusedAddress(allow, host);
    if (refused) throw new InvalidInputError(field, `Webhook target not allowed: ${refused}`);
  } else if (host === 'localhost' || host.endsWith('.localhost')) {
    throw new InvalidInputError(
      field,
      `Webhook target not allowed: ${host} is loopback, refused unless STRATUS_WEBHOOK_ALLOW lists it`,
    );
  }
  return url;
}

/** Whether a host name itself is on the allow-list (then its addresses are not checked). */
export function webhookHostAllowed(allow: readonly string[], host: string): boolean {
  return hostAllowed(allow, host.replace(/^\[|\]$/g, ''));
}
