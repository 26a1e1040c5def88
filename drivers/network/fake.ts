import type {
  NetworkDriver,
  NetworkDriverInfo,
  NetworkInventory,
  NetworkSpec,
  PluggedPort,
  PortSpec,
  RouterSpec,
} from './types';

/** One call the fake driver received, with the spec it was given (a deep copy). */
export type FakeNetworkCall =
  | { method: 'ensureNetwork'; spec: NetworkSpec }
  | { method: 'deleteNetwork'; id: string }
  | { method: 'ensurePort'; spec: PortSpec }
  | { method: 'deletePort'; id: string }
  | { method: 'ensureRouter'; spec: RouterSpec }
  | { method: 'deleteRouter'; id: string };

export type FakeNetworkMethod = FakeNetworkCall['method'];

/**
 * A network driver that only remembers: what exists (as the host would report it) and every
 * call it got, in order. For tests and for benchmarks of the control plane; never behind
 * `npm start`. `failNext` makes the next call of a method throw, to test failure paths.
 */
export class FakeNetworkDriver implements NetworkDriver {
  readonly calls: FakeNetworkCall[] = [];
  readonly networks = new Map<string, NetworkSpec>();
  readonly ports = new Map<string, PortSpec>();
  readonly routers = new Map<string, RouterSpec>();
  private readonly failures = new Map<FakeNetworkMethod, Error>();

  info(): NetworkDriverInfo {
    return { name: 'fake', capabilities: { securityGroups: false, dhcp: false, routers: false } };
  }

  async probe(): Promise<void> {}

  /** The next call of `method` throws `error` (once). */
  failNext(method: FakeNetworkMethod, error = new Error(`fake ${method} failure`)): void {
    this.failures.set(method, error);
  }

  /** Calls of one method, oldest first. */
  callsOf<M extends FakeNetworkMethod>(method: M): Extract<FakeNetworkCall, { method: M }>[] {
    return this.calls.filter(
      (c): c is Extract<FakeNetworkCall, { method: M }> => c.method === method,
    );
  }

  private record(call: FakeNetworkCall): void {
    const failure = this.failures.get(call.method);
    if (failure) {
      this.failures.delete(call.method);
      throw failure;
    }
    this.calls.push(structuredClone(call));
  }

  async ensureNetwork(spec: NetworkSpec): Promise<void> {
    this.record({ method: 'ensureNetwork', spec });
    this.networks.set(spec.networkId, structuredClone(spec));
  }

  async deleteNetwork(networkId: string): Promise<void> {
    this.record({ method: 'deleteNetwork', id: networkId });
    this.networks.delete(networkId);
  }

  async ensurePort(spec: PortSpec): Promise<PluggedPort> {
    this.record({ method: 'ensurePort', spec });
    this.ports.set(spec.portId, structuredClone(spec));
    return { portId: spec.portId, tapName: tapName(spec.portId), mac: spec.mac };
  }

  async deletePort(portId: string): Promise<void> {
    this.record({ method: 'deletePort', id: portId });
    // The service may name a port by the 11-character prefix a tap keeps (reconciliation).
    for (const id of this.ports.keys()) if (id.startsWith(portId)) this.ports.delete(id);
  }

  async ensureRouter(spec: RouterSpec): Promise<void> {
    this.record({ method: 'ensureRouter', spec });
    this.routers.set(spec.routerId, structuredClone(spec));
  }

  async deleteRouter(routerId: string): Promise<void> {
    this.record({ method: 'deleteRouter', id: routerId });
    this.routers.delete(routerId);
  }

  async list(): Promise<NetworkInventory> {
    return {
      networks: [...this.networks.keys()],
      ports: [...this.ports.keys()].map((id) => ({
        tapName: tapName(id),
        portIdPrefix: id.slice(0, 11),
      })),
      routers: [...this.routers.keys()],
    };
  }

  async close(): Promise<void> {}
}

/** Neutron's tap name: `tap` and the first 11 characters of the port id. */
export const tapName = (portId: string) => `tap${portId.slice(0, 11)}`;
