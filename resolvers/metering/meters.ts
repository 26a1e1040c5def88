import { MeterNotForResourceError, UnknownMeterError } from './errors';
import type { MeteredType } from './samples';

/**
 * The meter catalog: Ceilometer's names, units and kinds. A `cumulative` meter only grows
 * (until its counter resets, e.g. a qemu restart); ask it for `rate` to get per-second figures.
 */
export type MeterKind = 'gauge' | 'cumulative';

export interface MeterDefinition {
  name: string;
  unit: string;
  kind: MeterKind;
  /** The resource types this meter exists for (the same name may be on a server and a port). */
  resourceTypes: MeteredType[];
  description: string;
}

const m = (
  name: string,
  unit: string,
  kind: MeterKind,
  resourceTypes: MeteredType[],
  description: string,
): MeterDefinition => ({ name, unit, kind, resourceTypes, description });

export const METERS: readonly MeterDefinition[] = [
  // servers
  m('cpu', 'ns', 'cumulative', ['server'], 'CPU time used by the guest'),
  m('cpu_util', '%', 'gauge', ['server'], 'CPU utilization over the last poll interval'),
  m('vcpus', 'vcpu', 'gauge', ['server'], 'Virtual CPUs of the flavor'),
  m('memory', 'MiB', 'gauge', ['server'], 'Memory allocated to the guest'),
  m('memory.usage', 'MiB', 'gauge', ['server'], 'Memory the guest uses'),
  m('disk.read.bytes', 'B', 'cumulative', ['server'], 'Bytes read, all disks'),
  m('disk.write.bytes', 'B', 'cumulative', ['server'], 'Bytes written, all disks'),
  m('disk.read.requests', 'request', 'cumulative', ['server'], 'Read requests, all disks'),
  m('disk.write.requests', 'request', 'cumulative', ['server'], 'Write requests, all disks'),
  m('network.incoming.bytes', 'B', 'cumulative', ['server', 'port'], 'Bytes received'),
  m('network.outgoing.bytes', 'B', 'cumulative', ['server', 'port'], 'Bytes sent'),
  m('network.incoming.packets', 'packet', 'cumulative', ['server', 'port'], 'Packets received'),
  m('network.outgoing.packets', 'packet', 'cumulative', ['server', 'port'], 'Packets sent'),
  // one disk of a server
  m('disk.device.read.bytes', 'B', 'cumulative', ['server_disk'], 'Bytes read from the device'),
  m('disk.device.write.bytes', 'B', 'cumulative', ['server_disk'], 'Bytes written'),
  m('disk.device.read.requests', 'request', 'cumulative', ['server_disk'], 'Read requests'),
  m('disk.device.write.requests', 'request', 'cumulative', ['server_disk'], 'Write requests'),
  // volumes
  m('volume.size', 'GiB', 'gauge', ['volume'], 'Size of the volume'),
  m('volume.allocated', 'B', 'gauge', ['volume'], 'Bytes the backend has allocated'),
  // networks
  m('network.ports', 'port', 'gauge', ['network'], 'Ports on the network'),
  m('network.floating_ips', 'ip', 'gauge', ['network'], 'Floating IPs in use from the network'),
  // images
  m('image.size', 'B', 'gauge', ['image'], 'Size of the image data'),
  // object containers
  m('storage.objects.size', 'B', 'gauge', ['container'], 'Bytes stored in the container'),
  m('storage.objects', 'object', 'gauge', ['container'], 'Objects in the container'),
  // projects
  m('project.instances', 'instance', 'gauge', ['project'], 'Servers of the project'),
  m('project.vcpus', 'vcpu', 'gauge', ['project'], 'vCPUs of the project’s servers'),
  m('project.memory', 'MiB', 'gauge', ['project'], 'RAM of the project’s servers'),
];

const BY_NAME = new Map(METERS.map((d) => [d.name, d]));

export function findMeter(name: string): MeterDefinition | undefined {
  return BY_NAME.get(name);
}

/** The meters a resource type has, for listings and pollers. */
export function metersOf(type: MeteredType): MeterDefinition[] {
  return METERS.filter((d) => d.resourceTypes.includes(type));
}

/** The meter's definition, if it exists for this resource type; else a typed error on `field`. */
export function checkMeterFor(field: string, meter: string, resourceType: string): MeterDefinition {
  const def = findMeter(meter);
  if (!def) throw new UnknownMeterError(field, meter);
  if (!def.resourceTypes.includes(resourceType as MeteredType)) {
    throw new MeterNotForResourceError(field, meter, resourceType);
  }
  return def;
}
