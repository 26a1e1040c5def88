import { buildGraph } from '../template/dependencies';
import type { Template, TemplateResource } from '../template/index';

/**
 * The dependencies Heat adds on its own (each Neutron/Nova type's add_dependencies), so the
 * templates written for OpenStack, which rely on them, run unchanged:
 * - a Port or a Server on a network waits for every Subnet of that network in the stack
 *   (which subnet it gets an address from is not known before);
 * - a FloatingIP or FloatingIPAssociation for a port waits for the RouterInterfaces on the
 *   subnets of the port's network (without one the address cannot be associated), and a
 *   FloatingIP waits for the Routers whose gateway is on its floating network.
 * Networks are compared as written ({get_resource: net}, {get_param: x} or a name), as Heat
 * compares the property values. An edge that would close a cycle is not added.
 */

type Props = Record<string, unknown>;

const propsOf = (r: TemplateResource): Props =>
  r.properties && typeof r.properties === 'object' && !Array.isArray(r.properties)
    ? (r.properties as Props)
    : {};

const key = (v: unknown): string | null =>
  v === undefined || v === null ? null : JSON.stringify(v);

/** The resource a value names with get_resource, if it does. */
function referenced(v: unknown): string | null {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const ref = (v as Props).get_resource;
    if (typeof ref === 'string') return ref;
  }
  return null;
}

function networkOf(r: TemplateResource): string | null {
  const p = propsOf(r);
  return key(p.network ?? p.network_id);
}

function serverNetworks(r: TemplateResource): string[] {
  const nets = propsOf(r).networks;
  if (!Array.isArray(nets)) return [];
  return nets
    .map((n) =>
      n && typeof n === 'object' ? key((n as Props).network ?? (n as Props).uuid) : null,
    )
    .filter((n): n is string => n !== null);
}

function implicitEdges(
  resources: Readonly<Record<string, TemplateResource>>,
): Array<[string, string]> {
  const all = Object.values(resources);
  const ofType = (type: string) => all.filter((r) => r.mappedType === type);
  const subnets = ofType('OS::Neutron::Subnet');
  const subnetsOn = (net: string | null) =>
    net === null ? [] : subnets.filter((s) => networkOf(s) === net);
  const edges: Array<[string, string]> = [];

  for (const port of ofType('OS::Neutron::Port')) {
    for (const s of subnetsOn(networkOf(port))) edges.push([port.name, s.name]);
  }
  for (const server of ofType('OS::Nova::Server')) {
    for (const net of serverNetworks(server))
      for (const s of subnetsOn(net)) edges.push([server.name, s.name]);
  }

  const interfaces = ofType('OS::Neutron::RouterInterface');
  const routers = ofType('OS::Neutron::Router');
  for (const fip of [
    ...ofType('OS::Neutron::FloatingIP'),
    ...ofType('OS::Neutron::FloatingIPAssociation'),
  ]) {
    const p = propsOf(fip);
    const portName = referenced(p.port_id);
    const port = portName ? resources[portName] : undefined;
    if (port && port.mappedType === 'OS::Neutron::Port') {
      const onNet = new Set(subnetsOn(networkOf(port)).map((s) => s.name));
      for (const i of interfaces) {
        const subnet = referenced(propsOf(i).subnet ?? propsOf(i).subnet_id);
        if (subnet && onNet.has(subnet)) edges.push([fip.name, i.name]);
      }
    }
    const floating = key(p.floating_network ?? p.floating_network_id);
    if (floating === null) continue;
    for (const router of routers) {
      const gateway = propsOf(router).external_gateway_info;
      if (gateway && typeof gateway === 'object' && key((gateway as Props).network) === floating)
        edges.push([fip.name, router.name]);
    }
  }
  return edges;
}

/** True when `from` already needs `to`, directly or through others. */
function needs(requires: ReadonlyMap<string, Set<string>>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n === to) return true;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const d of requires.get(n) ?? []) stack.push(d);
  }
  return false;
}

/** The template with Heat's implicit dependencies added to its resources and graph. */
export function withImplicitDependencies(template: Template): Template {
  const edges = implicitEdges(template.resources);
  if (edges.length === 0) return template;
  const requires = new Map(
    Object.values(template.resources).map((r) => [r.name, new Set(r.requires)]),
  );
  let added = false;
  for (const [from, to] of edges) {
    if (from === to || requires.get(from)!.has(to) || needs(requires, to, from)) continue;
    requires.get(from)!.add(to);
    added = true;
  }
  if (!added) return template;
  const resources: Record<string, TemplateResource> = {};
  for (const [name, r] of Object.entries(template.resources))
    resources[name] = { ...r, requires: [...requires.get(name)!].sort() };
  return { ...template, resources, graph: buildGraph(requires) };
}
