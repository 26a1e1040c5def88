import { StratusError } from '../../../errors';
import {
  type ContainerRow,
  createContainer,
  deleteContainer,
  findContainer,
  loadContainers,
} from '../../../objects/containers';
import { checkContainerName, checkMetadata } from '../../../objects/names';
import { isUuid } from '../../../validation';
import { asProperties, badProperty, bool, map, type Props, str } from '../cinder/props';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';

/**
 * OS::Swift::Container onto Stratus object containers. Heat has no update for it: any
 * change replaces the container. Swift ACL headers map onto Stratus's read ACL
 * (`.r:*` -> PUBLIC, `<project id>:*` -> PROJECTS); write ACLs and account metadata do not
 * exist in Stratus and are refused by property. The physical id is the container's row id.
 */

/** Heat's ResourceActionNotSupported for a non-empty container without PurgeOnDelete. */
export class ResourceActionNotSupportedError extends StratusError {
  constructor(action: string) {
    super('CONFLICT', `${action} is not supported for resource.`);
  }
}

const FIELDS = { name: 'name', metadata: 'X-Container-Meta', readProjectIds: 'X-Container-Read' };

type ReadAcl =
  | { readAcl: 'PRIVATE' }
  | { readAcl: 'PUBLIC' }
  | { readAcl: 'PROJECTS'; readProjectIds: string[] };

/** Swift's X-Container-Read, as far as Stratus's read ACL can say it. */
function readAcl(ctx: ResourceContext, header: string | undefined): ReadAcl {
  const items = (header ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) return { readAcl: 'PRIVATE' };
  const referrers = items.filter((i) => i.startsWith('.'));
  const projects = items.filter((i) => !i.startsWith('.'));
  if (
    referrers.some((r) => r !== '.r:*' && r !== '.rlistings') ||
    (referrers.length && projects.length)
  )
    throw badProperty(
      ctx,
      'X-Container-Read',
      `Stratus reads ".r:*" (public) or a list of "<project id>:*"; not "${header}"`,
    );
  if (referrers.length) return { readAcl: 'PUBLIC' };
  const ids = projects.map((p) => {
    const [project, user] = p.split(':');
    if (!isUuid(project) || (user !== undefined && user !== '*'))
      throw badProperty(
        ctx,
        'X-Container-Read',
        `"${p}": Stratus grants reads to whole projects only ("<project id>:*")`,
      );
    return project;
  });
  return { readAcl: 'PROJECTS', readProjectIds: ids };
}

function createInput(ctx: ResourceContext, p: Props) {
  if (str(p, 'X-Container-Write'))
    throw badProperty(ctx, 'X-Container-Write', 'Stratus ACLs never grant writes to others');
  if (Object.keys(map(p, 'X-Account-Meta')).length)
    throw badProperty(ctx, 'X-Account-Meta', 'Stratus accounts hold no metadata');
  const name = str(p, 'name') ?? ctx.physicalName;
  const metadata = Object.fromEntries(
    Object.entries(map(p, 'X-Container-Meta')).map(([k, v]) => [k, String(v)]),
  );
  return { name, metadata, ...readAcl(ctx, str(p, 'X-Container-Read')) };
}

async function containerRow(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<ContainerRow | null> {
  if (!state.physicalId) return null;
  const [row] = await loadContainers(ctx.svc, [state.physicalId]);
  return row;
}

/** The account URL objects are served under: Heat's RootURL. */
const rootUrl = (ctx: ResourceContext, row: ContainerRow) =>
  `${ctx.svc.baseUrl}/v1/AUTH_${row.projectId}`;

function headContainer(row: ContainerRow): Record<string, string> {
  return {
    'x-container-object-count': String(row.objectCount),
    'x-container-bytes-used': String(row.bytesUsed),
    'x-container-read':
      row.readAcl === 'PUBLIC'
        ? '.r:*,.rlistings'
        : row.readAcl === 'PROJECTS'
          ? row.readProjectIds.map((p) => `${p}:*`).join(',')
          : '',
    ...Object.fromEntries(
      Object.entries(row.metadata).map(([k, v]) => [`x-container-meta-${k}`, v]),
    ),
    'x-timestamp': String(row.createdAt.getTime() / 1000),
  };
}

export const swiftContainer: ResourcePlugin = {
  type: 'OS::Swift::Container',
  physicalType: 'Container',
  properties: {
    name: { type: 'string' },
    'X-Container-Read': { type: 'string' },
    'X-Container-Write': { type: 'string' },
    'X-Container-Meta': { type: 'map', default: {} },
    'X-Account-Meta': { type: 'map', default: {} },
    PurgeOnDelete: { type: 'boolean', default: false },
  },
  attributes: ['DomainName', 'WebsiteURL', 'RootURL', 'ObjectCount', 'BytesUsed', 'HeadContainer'],

  async validate(ctx, p) {
    const input = createInput(ctx, p);
    checkContainerName(input.name, `${ctx.path}.name`);
    checkMetadata(input.metadata, `${ctx.path}.X-Container-Meta`);
    if (await findContainer(ctx.svc, ctx.stack.projectId, input.name))
      throw badProperty(ctx, 'name', `a container named "${input.name}" already exists`);
  },

  quota() {
    return [{ resource: 'containers', amount: 1 }];
  },

  async create(ctx, p) {
    const input = createInput(ctx, p);
    const row = await asProperties(ctx, FIELDS, () => createContainer(ctx.svc, input));
    return { physicalId: row.id };
  },

  async delete(ctx, state) {
    const row = await containerRow(ctx, state);
    if (!row) return;
    const purge = bool(state.properties, 'PurgeOnDelete') ?? false;
    if (row.objectCount > 0 && !purge)
      throw new ResourceActionNotSupportedError(
        `Deleting non-empty container (${row.name}) when PurgeOnDelete is False`,
      );
    await deleteContainer(ctx.svc, row.id, purge);
  },

  async attribute(ctx, state, name) {
    const row = await containerRow(ctx, state);
    if (!row) return null;
    const root = rootUrl(ctx, row);
    switch (name) {
      case 'DomainName':
        return new URL(root).hostname;
      case 'WebsiteURL':
        return `${root}/${encodeURIComponent(row.name)}`;
      case 'RootURL':
        return root;
      case 'ObjectCount':
        return row.objectCount;
      case 'BytesUsed':
        return row.bytesUsed;
      case 'HeadContainer':
        return headContainer(row);
      case 'show':
        return {
          id: row.id,
          name: row.name,
          project_id: row.projectId,
          count: row.objectCount,
          bytes: row.bytesUsed,
          read_acl: row.readAcl,
          read_project_ids: row.readProjectIds,
          metadata: row.metadata,
          created_at: row.createdAt.toISOString(),
        };
      default:
        return null;
    }
  },
};
