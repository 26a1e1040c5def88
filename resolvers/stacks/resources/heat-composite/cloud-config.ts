import { stringify } from 'yaml';
import { configPlugin, optionalMap } from './config-resource';

/**
 * `#cloud-config` + the map as YAML, as Heat writes it (PyYAML safe_dump: block style,
 * sorted keys, lists not indented under their key).
 */
export function cloudConfigText(cloudConfig: Record<string, unknown>): string {
  const yaml = stringify(cloudConfig, {
    version: '1.1',
    singleQuote: true,
    sortMapEntries: true,
    indentSeq: false,
    lineWidth: 0,
  });
  return `#cloud-config\n${Object.keys(cloudConfig).length === 0 ? '{}\n' : yaml}`;
}

/** OS::Heat::CloudConfig: a cloud-init cloud-config document from a map. */
export const cloudConfig = configPlugin(
  'OS::Heat::CloudConfig',
  { cloud_config: { type: 'map' } },
  async (ctx, props) => ({
    group: 'Heat::Ungrouped',
    config: cloudConfigText(optionalMap(ctx, props, 'cloud_config')),
    inputs: [],
    outputs: [],
    options: {},
  }),
);
