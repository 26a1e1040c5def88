import { sql } from 'drizzle-orm';
import type { ServiceContext } from '../../runtime';
import type { CustomConstraint } from '../template';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Heat's custom constraints for parameters (nova.flavor, glance.image, neutron.network, ...):
 * the value must name (or be the id of) a row the stack owner may see. Read-only lookups.
 */
export function customConstraints(svc: ServiceContext): Record<string, CustomConstraint> {
  const project = svc.auth?.scope.kind === 'project' ? svc.auth.scope.projectId : null;
  const user = svc.auth?.userId ?? null;
  const exists = async (query: ReturnType<typeof sql>) =>
    (await svc.rt.db.execute<{ n: number }>(query)).rows.length > 0;
  const idOrName = (value: unknown) => {
    const text = String(value ?? '');
    return { text, id: UUID.test(text) ? text : null };
  };
  const projectRow =
    (table: string, what: string, shared = false): CustomConstraint =>
    async (_name, value) => {
      const v = idOrName(value);
      const visible = shared
        ? sql`(project_id = ${project} or shared)`
        : sql`project_id = ${project}`;
      const match = v.id ? sql`(id = ${v.id} or name = ${v.text})` : sql`name = ${v.text}`;
      const ok = await exists(
        sql`select 1 from ${sql.identifier(table)} where ${match} and ${visible} limit 1`,
      );
      return ok ? null : `the ${what} '${v.text}' could not be found`;
    };
  return {
    'nova.flavor': async (_name, value) => {
      const v = idOrName(value);
      const match = v.id ? sql`(f.id = ${v.id} or f.name = ${v.text})` : sql`f.name = ${v.text}`;
      const ok = await exists(sql`select 1 from flavors f where ${match} and (f.is_public
        or exists (select 1 from flavor_access a where a.flavor_id = f.id and a.project_id = ${project})) limit 1`);
      return ok ? null : `the flavor '${v.text}' could not be found`;
    },
    'glance.image': async (_name, value) => {
      const v = idOrName(value);
      const match = v.id ? sql`(i.id = ${v.id} or i.name = ${v.text})` : sql`i.name = ${v.text}`;
      const ok = await exists(sql`select 1 from images i where ${match} and i.status <> 'deleted'
        and (i.visibility in ('public', 'community') or i.owner_project_id = ${project}
          or exists (select 1 from image_members m where m.image_id = i.id and m.member_project_id = ${project})) limit 1`);
      return ok ? null : `the image '${v.text}' could not be found`;
    },
    'neutron.network': projectRow('networks', 'network', true),
    'neutron.subnet': projectRow('subnets', 'subnet'),
    'neutron.port': projectRow('ports', 'port'),
    'cinder.volume': projectRow('volumes', 'volume'),
    'nova.keypair': async (_name, value) => {
      const v = String(value ?? '');
      const ok = await exists(
        sql`select 1 from keypairs where user_id = ${user} and name = ${v} limit 1`,
      );
      return ok ? null : `the keypair '${v}' could not be found`;
    },
  };
}
