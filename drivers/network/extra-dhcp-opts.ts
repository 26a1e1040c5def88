/**
 * Neutron's extra_dhcp_opt: per-port DHCP options, as Ironic sets them for network boot
 * (`bootfile-name`, `tftp-server`, `server-ip-address`, and `tag:ipxe,bootfile-name` for the
 * script an iPXE client fetches). The names are dnsmasq's (`dnsmasq --help dhcp`), or an
 * option number; a name may sit behind tags (`tag:ipxe,` or `tag:!ipxe,`), as Neutron's
 * dnsmasq driver passes them through. Shared by the service (input checks) and the drivers.
 */

export interface ExtraDhcpOpt {
  optName: string;
  optValue: string;
  ipVersion: 4 | 6;
}

/** dnsmasq's DHCPv4 option names (a subset: the ones with a use on a port). */
export const DHCP4_OPTION_NAMES: ReadonlySet<string> = new Set([
  'netmask',
  'time-offset',
  'router',
  'dns-server',
  'log-server',
  'lpr-server',
  'hostname',
  'boot-file-size',
  'domain-name',
  'swap-server',
  'root-path',
  'extension-path',
  'ip-forward-enable',
  'policy-filter',
  'default-ttl',
  'mtu',
  'broadcast',
  'static-route',
  'arp-timeout',
  'tcp-ttl',
  'tcp-keepalive',
  'nis-domain',
  'nis-server',
  'ntp-server',
  'vendor-encap',
  'netbios-ns',
  'netbios-dd',
  'netbios-nodetype',
  'netbios-scope',
  'lease-time',
  'T1',
  'T2',
  'vendor-class',
  'client-id',
  'tftp-server',
  'bootfile-name',
  'smtp-server',
  'pop3-server',
  'user-class',
  'client-arch',
  'client-interface-id',
  'client-machine-id',
  'posix-timezone',
  'tzdb-timezone',
  'domain-search',
  'sip-server',
  'classless-static-route',
  'vendor-id-encap',
  'tftp-server-address',
  // dnsmasq's pseudo-option for the DHCP header's next-server (siaddr).
  'server-ip-address',
]);

/** dnsmasq's DHCPv6 option names (a subset). */
export const DHCP6_OPTION_NAMES: ReadonlySet<string> = new Set([
  'dns-server',
  'domain-search',
  'sip-server',
  'sip-server-domain',
  'nis-server',
  'nis-domain',
  'sntp-server',
  'information-refresh-time',
  'ntp-server',
  'bootfile-url',
  'bootfile-param',
]);

const TAG = /^tag:!?[A-Za-z0-9_.-]{1,32}$/;
const MAX_VALUE = 255;

/** Why `opt` cannot be handed to dnsmasq, naming the part (`optName`...), or null when fine. */
export function extraDhcpOptProblem(opt: ExtraDhcpOpt): { part: string; reason: string } | null {
  if (opt.ipVersion !== 4 && opt.ipVersion !== 6)
    return { part: 'ipVersion', reason: 'must be 4 or 6' };
  const parts = opt.optName.split(',');
  const name = parts.pop() ?? '';
  if (parts.length > 2 || !parts.every((t) => TAG.test(t))) {
    return {
      part: 'optName',
      reason: `"${opt.optName}": tags are written tag:<name> or tag:!<name> (at most two), then the option`,
    };
  }
  const known = opt.ipVersion === 4 ? DHCP4_OPTION_NAMES : DHCP6_OPTION_NAMES;
  const numeric = /^\d{1,3}$/.test(name) && Number(name) >= 1 && Number(name) <= 254;
  if (!numeric && !known.has(name)) {
    return {
      part: 'optName',
      reason: `"${name}" is not a known DHCPv${opt.ipVersion} option name (dnsmasq's names, e.g. bootfile-name, tftp-server, server-ip-address) or number 1-254`,
    };
  }
  if (opt.optValue.length === 0 || opt.optValue.length > MAX_VALUE)
    return { part: 'optValue', reason: `must be 1-${MAX_VALUE} characters` };
  // The value lands in a dnsmasq options file: one line, printable, no quote games.
  if (!/^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/.test(opt.optValue) || opt.optValue.includes('"'))
    return {
      part: 'optValue',
      reason: 'must be printable ASCII without double quotes, control characters or line breaks',
    };
  return null;
}

/** The option as dnsmasq's `--dhcp-optsfile` line for clients tagged `hostTag`. */
export function dnsmasqOptLine(hostTag: string, opt: ExtraDhcpOpt): string {
  const parts = opt.optName.split(',');
  const name = parts.pop() ?? '';
  const option = /^\d+$/.test(name)
    ? name
    : `${opt.ipVersion === 4 ? 'option' : 'option6'}:${name}`;
  return [`tag:${hostTag}`, ...parts, option, opt.optValue].join(',');
}
