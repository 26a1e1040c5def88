import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import type { MeteredType, Sample } from '../../resolvers/metering/samples';

/**
 * Meters read from the database rather than a driver (networks, floating IPs, images, object
 * containers, volume sizes, project totals): one query per kind, polled by one process per
 * round (the pollers' advisory lock).
 */

interface Row {
  id: string;
  project_id: string | null;
  [column: string]: unknown;
}

async function rows(db: DbOrTx, query: ReturnType<typeof sql>): Promise<Row[]> {
  return (await db.execute<Row>(query)).rows;
}

function toSamples(
  list: Row[],
  resourceType: MeteredType,
  meters: Record<string, string>,
  timestamp: Date,
): Sample[] {
  const out: Sample[] = [];
  for (const r of list) {
    for (const [meter, column] of Object.entries(meters)) {
      out.push({
        meter,
        resourceType,
        resourceId: r.id,
        projectId: r.project_id,
        timestamp,
        value: Number(r[column] ?? 0),
      });
    }
  }
  return out;
}

export const DB_KINDS = ['network', 'image', 'container', 'volume', 'project'] as const;
export type DbKind = (typeof DB_KINDS)[number];

/** The samples of one DB-derived kind, all stamped `timestamp`. */
export async function dbKindSamples(db: DbOrTx, kind: DbKind, timestamp: Date): Promise<Sample[]> {
  switch (kind) {
    case 'network':
      return toSamples(
        await rows(
          db,
          sql`select n.id, n.project_id,
            (select count(*) from ports p where p.network_id = n.id) as ports,
            (select count(*) from floating_ips f where f.floating_network_id = n.id) as fips
          from networks n`,
        ),
        'network',
        { 'network.ports': 'ports', 'network.floating_ips': 'fips' },
        timestamp,
      );
    case 'image':
      return toSamples(
        await rows(
          db,
          sql`select id, owner_project_id as project_id, size_bytes from images
            where status = 'active' and size_bytes is not null`,
        ),
        'image',
        { 'image.size': 'size_bytes' },
        timestamp,
      );
    case 'container':
      return toSamples(
        await rows(db, sql`select id, project_id, bytes_used, object_count from containers`),
        'container',
        { 'storage.objects.size': 'bytes_used', 'storage.objects': 'object_count' },
        timestamp,
      );
    case 'volume':
      return toSamples(
        await rows(
          db,
          sql`select id, project_id, size_gib from volumes
            where status not in ('creating', 'deleting', 'error_deleting')`,
        ),
        'volume',
        { 'volume.size': 'size_gib' },
        timestamp,
      );
    case 'project':
      // A project's own id is its resource id, and it owns its figures.
      return toSamples(
        await rows(
          db,
          sql`select p.id, p.id as project_id, count(s.id) as instances,
            coalesce(sum((s.flavor->>'vcpus')::int), 0) as vcpus,
            coalesce(sum((s.flavor->>'ramMib')::int), 0) as ram
          from projects p left join servers s on s.project_id = p.id and s.vm_state <> 'deleted'
          group by p.id`,
        ),
        'project',
        { 'project.instances': 'instances', 'project.vcpus': 'vcpus', 'project.memory': 'ram' },
        timestamp,
      );
  }
}
