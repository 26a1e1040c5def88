import type { Tx } from '../../db/connection';
import { releaseQuota, reserveQuota } from '../quotas';

/**
 * Cinder's volume quotas: volumes, gigabytes (volumes and snapshots together) and snapshots,
 * and the same three per volume type (`volumes_<type>`, ...). Per-type limits default to
 * unlimited (-1) and are registered as quota resources once the type exists, so admins set
 * them with setProjectQuota like any other.
 */
export interface VolumeUsage {
  volumes?: number;
  snapshots?: number;
  gigabytes: number;
}

export const typeQuotaKeys = (typeName: string) => ({
  volumes: `volumes_${typeName}`,
  snapshots: `snapshots_${typeName}`,
  gigabytes: `gigabytes_${typeName}`,
});

/** Makes the per-type resources of `typeName` known quotas (unlimited unless set). */
export function registerTypeQuotas(defaults: Record<string, number>, typeName: string): void {
  for (const key of Object.values(typeQuotaKeys(typeName))) {
    if (!(key in defaults)) defaults[key] = -1;
  }
}

function amounts(typeName: string, usage: VolumeUsage): Record<string, number> {
  const keys = typeQuotaKeys(typeName);
  const out: Record<string, number> = { gigabytes: usage.gigabytes };
  out[keys.gigabytes] = usage.gigabytes;
  if (usage.volumes) {
    out.volumes = usage.volumes;
    out[keys.volumes] = usage.volumes;
  }
  if (usage.snapshots) {
    out.snapshots = usage.snapshots;
    out[keys.snapshots] = usage.snapshots;
  }
  return out;
}

/** Reserves `usage` of a volume type for a project in the caller's transaction. */
export async function reserveVolumeQuota(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  typeName: string,
  usage: VolumeUsage,
): Promise<void> {
  registerTypeQuotas(defaults, typeName);
  await reserveQuota(tx, defaults, projectId, amounts(typeName, usage));
}

export function releaseVolumeQuota(
  tx: Tx,
  projectId: string,
  typeName: string,
  usage: VolumeUsage,
): Promise<void> {
  return releaseQuota(tx, projectId, amounts(typeName, usage));
}
