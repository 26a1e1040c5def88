import { and, eq, inArray } from 'drizzle-orm';
import type { DbOrTx } from '../../../../db/connection';
import { stackResources, stacks } from '../../../../db/stacks';

/** The types whose resource row's data holds a config text (Heat's software_configs). */
export const CONFIG_TYPES = [
  'OS::Heat::SoftwareConfig',
  'OS::Heat::CloudConfig',
  'OS::Heat::MultipartMime',
] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The config text of a SoftwareConfig, CloudConfig or MultipartMime resource of `projectId`
 * by its physical ID (what get_resource gives), or null when there is none. The server's
 * user_data_format SOFTWARE_CONFIG and MultipartMime parts resolve their ids through this.
 */
export async function configText(
  db: DbOrTx,
  physicalId: string,
  projectId: string,
): Promise<string | null> {
  if (!UUID.test(physicalId)) return null;
  const [row] = await db
    .select({ data: stackResources.data })
    .from(stackResources)
    .innerJoin(stacks, eq(stacks.id, stackResources.stackId))
    .where(
      and(
        eq(stackResources.physicalId, physicalId),
        inArray(stackResources.type, [...CONFIG_TYPES]),
        eq(stacks.projectId, projectId),
      ),
    )
    .limit(1);
  const config = row?.data.config;
  return typeof config === 'string' ? config : null;
}
