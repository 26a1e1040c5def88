import { eq } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import { networks, ports, routers, securityGroups, subnets } from '../../../../db/tables';
import { InvalidInputError, NotFoundError } from '../../../errors';
import {
  loadNetworks,
  loadPorts,
  loadRouters,
  loadSecurityGroups,
  loadSubnets,
  type NetworkRow,
  type PortRow,
  type RouterRow,
  type SecurityGroupRow,
  type SubnetRow,
} from '../../../networks/access';
import type { ServiceContext } from '../../../runtime';
import { idOf } from '../ids';

/**
 * Heat accepts a name or an id wherever it names a neutron resource (its neutron.network,
 * neutron.subnet... constraints): an id the owner may see wins, else exactly one visible row
 * with that name. Unknown or ambiguous: a typed error naming the property path.
 */

type Loader<T> = (ctx: ServiceContext, ids: readonly string[]) => Promise<Array<T | null>>;

async function byNameOrId<T extends { id: string }>(
  svc: ServiceContext,
  value: string,
  field: string,
  what: string,
  load: Loader<T>,
  table: PgTable & { id: AnyPgColumn; name: AnyPgColumn },
): Promise<T> {
  const id = idOf(value);
  if (id) {
    const [row] = await load(svc, [id]);
    if (row) return row;
  }
  const named = await svc.rt.db.select({ id: table.id }).from(table).where(eq(table.name, value));
  const rows = (
    await load(
      svc,
      named.map((r) => String(r.id)),
    )
  ).filter((r): r is Awaited<T> & T => r !== null);
  if (rows.length === 1) return rows[0];
  if (rows.length > 1) {
    throw new InvalidInputError(
      field,
      `${field}: ${rows.length} ${what}s are named "${value}"; give the id`,
    );
  }
  throw new InvalidInputError(field, `${field}: no ${what} "${value}" that you may see`);
}

export const findNetwork = (
  svc: ServiceContext,
  value: string,
  field: string,
): Promise<NetworkRow> => byNameOrId(svc, value, field, 'network', loadNetworks, networks);

export const findSubnet = (svc: ServiceContext, value: string, field: string): Promise<SubnetRow> =>
  byNameOrId(svc, value, field, 'subnet', loadSubnets, subnets);

export const findPort = (svc: ServiceContext, value: string, field: string): Promise<PortRow> =>
  byNameOrId(svc, value, field, 'port', loadPorts, ports);

export const findRouter = (svc: ServiceContext, value: string, field: string): Promise<RouterRow> =>
  byNameOrId(svc, value, field, 'router', loadRouters, routers);

export const findSecurityGroup = (
  svc: ServiceContext,
  value: string,
  field: string,
): Promise<SecurityGroupRow> =>
  byNameOrId(svc, value, field, 'security group', loadSecurityGroups, securityGroups);

/** The external network a router gateway or floating IP uses. */
export async function findExternalNetwork(
  svc: ServiceContext,
  value: string,
  field: string,
): Promise<NetworkRow> {
  const network = await findNetwork(svc, value, field);
  if (!network.external)
    throw new InvalidInputError(field, `${field}: network "${value}" is not external`);
  return network;
}

/** Deleting something already gone is success: the engine retries deletes. */
export async function ignoreGone(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof NotFoundError) return;
    throw error;
  }
}

/** The physical row, or a NotFoundError naming the resource (its attributes cannot be read). */
export async function physical<T>(
  svc: ServiceContext,
  load: Loader<T>,
  what: string,
  id: string | null,
): Promise<T> {
  const [row] = id ? await load(svc, [id]) : [null];
  if (!row) throw new NotFoundError(what, id ?? '(none)');
  return row;
}
