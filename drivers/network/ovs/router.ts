import type { RouterSpec } from '../types';
import { routerGatewayEnd } from './names';
import { run } from './run';

/*
 * NAT of a router, as Neutron's L3 agent does it: iptables inside `qrouter-<id>`. Packets of a
 * router leave the userspace datapath through a veth into the namespace, so the namespace's
 * own netfilter sees them: the kernel's NAT and connection tracking do the work, and
 * `iptables-restore` replaces the whole table in one atomic step on every update.
 */

/** The `nat` table of a router, in iptables-restore format. */
export function natRules(spec: RouterSpec): string {
  const lines = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
  ];
  const gw = spec.gateway;
  if (gw && gw.fixedIp.ipVersion === 4) {
    const qg = routerGatewayEnd(gw.portId);
    for (const f of spec.floatingIps) {
      if (f.floatingIp.includes(':')) continue;
      lines.push(`-A PREROUTING -d ${f.floatingIp}/32 -j DNAT --to-destination ${f.fixedIp}`);
      lines.push(`-A OUTPUT -d ${f.floatingIp}/32 -j DNAT --to-destination ${f.fixedIp}`);
    }
    for (const f of spec.floatingIps) {
      if (f.floatingIp.includes(':')) continue;
      lines.push(`-A POSTROUTING -s ${f.fixedIp}/32 -o ${qg} -j SNAT --to-source ${f.floatingIp}`);
    }
    if (gw.enableSnat) {
      // Between the router's own subnets, and for DNAT'd replies, no address rewriting.
      lines.push(`-A POSTROUTING ! -o ${qg} -m conntrack ! --ctstate DNAT -j ACCEPT`);
      for (const leg of spec.interfaces) {
        if (leg.fixedIp.ipVersion !== 4) continue;
        const subnet = networkOf(leg.fixedIp.ip, leg.fixedIp.prefixLength);
        lines.push(`-A POSTROUTING -s ${subnet} -o ${qg} -j SNAT --to-source ${gw.fixedIp.ip}`);
      }
    }
  }
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** Replaces the router's NAT table. */
export async function applyNat(namespace: string, spec: RouterSpec): Promise<void> {
  await run('ip', ['netns', 'exec', namespace, 'iptables-restore'], { input: natRules(spec) });
}

/** Switches on forwarding inside the router's namespace (each namespace has its own). */
export async function enableForwarding(namespace: string): Promise<void> {
  await run('ip', [
    ...['netns', 'exec', namespace, 'sysctl', '-q', '-w'],
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
  ]);
}

/** `a.b.c.d/len` with the host bits cleared. */
export function networkOf(ip: string, prefixLength: number): string {
  const n = ip.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${prefixLength}`;
}
