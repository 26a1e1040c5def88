import { expect } from 'vitest';
import type { FakeNetworkDriver } from '../../drivers/network/fake';
import { rawId } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';

/** Helpers for the networks API tests (test/network/networks-*.test.ts). */

const IPAM_ERRORS = `... on IpAddressInUseError { field ip }
  ... on IpAddressGenerationFailureError { field }
  ... on QuotaExceededError { resource limit inUse }`;
const QUOTA_ERRORS = '... on QuotaExceededError { resource limit inUse }';

/** Error fields a mutation's payload can be asked for (a spread of a type not in it is refused). */
function errorsOf(mutation: string): string {
  const base = '__typename ... on Error { message code } ... on InvalidInputError { field }';
  if (
    /^(createPort|updatePort|createSubnet|updateSubnet|createRouter|updateRouter|addRouterInterface|createFloatingIp)$/.test(
      mutation,
    )
  ) {
    return `${base} ${IPAM_ERRORS}`;
  }
  if (mutation === 'createSecurityGroupRule') {
    return `${base} ${QUOTA_ERRORS} ... on SecurityGroupRuleExistsError { ruleId }`;
  }
  if (mutation === 'createNetwork' || mutation === 'createSecurityGroup')
    return `${base} ${QUOTA_ERRORS}`;
  return base;
}

export const NETWORK_FIELDS = 'id name status shared external mtu adminStateUp subnets { id cidr }';
export const SUBNET_FIELDS =
  'id name cidr ipVersion gatewayIp enableDhcp allocationPools { start end } dnsNameservers hostRoutes { destination nexthop } network { id }';
export const PORT_FIELDS =
  'id name macAddress status deviceOwner deviceId portSecurityEnabled adminStateUp fixedIps { ipAddress subnet { id } } securityGroups { id name } allowedAddressPairs { ipAddress macAddress } network { id }';

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
/** Mutations whose input type is shared rather than named after them. */
const INPUT_TYPES: Record<string, string> = {
  addRouterInterface: 'RouterInterfaceInput',
  removeRouterInterface: 'RouterInterfaceInput',
};

/**
 * Runs `<mutation>(input)` and returns its payload; `field` is the success data field and
 * `fields` what to select of it.
 */
export async function mutate(
  s: TestStratus,
  token: string | null,
  mutation: string,
  input: Record<string, unknown>,
  field: string,
  fields: string,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: ${INPUT_TYPES[mutation] ?? `${cap(mutation)}Input`}!) { ${mutation}(input: $input) { ${errorsOf(mutation)} ... on ${cap(mutation)}Success { ${field} { ${fields} } } } }`,
    { input },
    token,
  );
  return data[mutation];
}

/** Like mutate, but fails the test unless it succeeded; returns the data field. */
export async function made(
  s: TestStratus,
  token: string | null,
  mutation: string,
  input: Record<string, unknown>,
  field: string,
  fields = 'id',
): Promise<Json> {
  const payload = await mutate(s, token, mutation, input, field, fields);
  expect(payload.__typename, JSON.stringify(payload)).toBe(`${cap(mutation)}Success`);
  return payload[field];
}

export const createNetwork = (
  s: TestStratus,
  token: string | null,
  input: Record<string, unknown> = {},
) => made(s, token, 'createNetwork', { name: 'net', ...input }, 'network', NETWORK_FIELDS);

export const createSubnet = (
  s: TestStratus,
  token: string | null,
  input: Record<string, unknown>,
) => made(s, token, 'createSubnet', input, 'subnet', SUBNET_FIELDS);

export const createPort = (s: TestStratus, token: string | null, input: Record<string, unknown>) =>
  mutate(s, token, 'createPort', input, 'port', PORT_FIELDS);

/** The fake network driver the test Stratus runs with. */
export function fakeDriver(s: TestStratus): FakeNetworkDriver {
  const driver = s.stratus.runtime.network?.driver;
  if (driver?.info().name !== 'fake')
    throw new Error('the test Stratus has no fake network driver');
  return driver as FakeNetworkDriver;
}

/** Rows of a networks table, counted in the database (optionally for one project). */
export async function rows(
  s: TestStratus,
  table: string,
  projectGlobalId?: string,
): Promise<number> {
  const { rows: r } = projectGlobalId
    ? await s.stratus.runtime.pool.query(
        `select count(*) as n from ${table} where project_id = $1`,
        [rawId(projectGlobalId)],
      )
    : await s.stratus.runtime.pool.query(`select count(*) as n from ${table}`);
  return Number(r[0].n);
}

/** Counts of every networks table at once, to prove a refused request wrote nothing. */
export async function allRows(s: TestStratus): Promise<Record<string, number>> {
  const tables = [
    'networks',
    'subnets',
    'ports',
    'ip_allocations',
    'security_groups',
    'security_group_rules',
    'port_security_groups',
    'routers',
    'floating_ips',
    'quota_usage',
  ];
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = await rows(s, t);
  const { rows: q } = await s.stratus.runtime.pool.query(
    'select coalesce(sum(in_use), 0) as n from quota_usage',
  );
  out.quota_in_use = Number(q[0].n);
  return out;
}

/** Waits until `check` passes (the sync jobs run asynchronously). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
