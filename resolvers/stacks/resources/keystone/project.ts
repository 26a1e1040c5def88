import { NotFoundError } from '../../../errors';
import {
  createProject,
  deleteProject,
  loadProjects,
  type ProjectRow,
  updateProject,
} from '../../../identity/projects';
import { asProperties, badProperty, bool, list, type Props, plain, str } from '../cinder/props';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { domainIdFor, requireAction } from './lookup';

/**
 * OS::Keystone::Project onto createProject (admin only in Stratus's policy). Stratus projects
 * are flat and untagged: `parent` and `tags` are refused by property, and so is moving a
 * project to another domain. The parent a Keystone project reports is its domain.
 */

const FIELDS = { domainId: 'domain', name: 'name', description: 'description', enabled: 'enabled' };

function checkSupported(ctx: ResourceContext, p: Props): void {
  if (str(p, 'parent'))
    throw badProperty(ctx, 'parent', 'Stratus projects are flat: no parent project');
  if (list(p, 'tags').length) throw badProperty(ctx, 'tags', 'Stratus projects hold no tags');
}

async function createInput(ctx: ResourceContext, p: Props) {
  requireAction(ctx, 'identity:create_project');
  checkSupported(ctx, p);
  return {
    domainId: await domainIdFor(ctx, str(p, 'domain'), 'domain'),
    name: str(p, 'name') ?? ctx.physicalName,
    description: str(p, 'description') ?? '',
    enabled: bool(p, 'enabled') ?? true,
  };
}

async function projectRow(ctx: ResourceContext, state: ResourceState): Promise<ProjectRow | null> {
  if (!state.physicalId) return null;
  const [row] = await loadProjects(ctx.svc, [state.physicalId]);
  return row;
}

export const keystoneProject: ResourcePlugin = {
  type: 'OS::Keystone::Project',
  physicalType: 'Project',
  properties: {
    name: { type: 'string', updateAllowed: true },
    domain: { type: 'string', default: 'default', updateAllowed: true },
    description: { type: 'string', default: '', updateAllowed: true },
    enabled: { type: 'boolean', default: true, updateAllowed: true },
    parent: { type: 'string' },
    tags: { type: 'list', default: [], updateAllowed: true },
  },
  attributes: ['name', 'domain_id', 'enabled', 'parent_id', 'is_domain'],

  async validate(ctx, p) {
    await createInput(ctx, p);
  },

  async create(ctx, p) {
    const input = await createInput(ctx, p);
    const row = await asProperties(ctx, FIELDS, () => createProject(ctx.svc, input));
    return { physicalId: row.id };
  },

  async update(ctx, state, p, changed) {
    requireAction(ctx, 'identity:update_project');
    checkSupported(ctx, p);
    const row = await projectRow(ctx, state);
    if (!row) throw new NotFoundError('project', String(state.physicalId));
    if (changed.includes('domain')) {
      const domainId = await domainIdFor(ctx, str(p, 'domain'), 'domain');
      if (domainId !== row.domainId)
        throw badProperty(ctx, 'domain', 'Stratus cannot move a project to another domain');
    }
    await asProperties(ctx, FIELDS, () =>
      updateProject(ctx.svc, {
        id: row.id,
        name: str(p, 'name') ?? ctx.physicalName,
        description: str(p, 'description') ?? '',
        enabled: bool(p, 'enabled') ?? true,
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    try {
      await deleteProject(ctx.svc, state.physicalId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  },

  async attribute(ctx, state, name) {
    const row = await projectRow(ctx, state);
    if (!row) return null;
    const all = {
      ...plain(row as unknown as Record<string, unknown>),
      domain_id: row.domainId,
      parent_id: row.domainId,
      is_domain: false,
      tags: [],
    };
    return name === 'show' ? all : ((all as Record<string, unknown>)[name] ?? null);
  },
};
