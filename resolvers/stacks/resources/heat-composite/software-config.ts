import { configPlugin, optionalList, optionalMap, optionalString } from './config-resource';

/** OS::Heat::SoftwareConfig: a config text (script, cloud-config, ...) for servers to run. */
export const softwareConfig = configPlugin(
  'OS::Heat::SoftwareConfig',
  {
    group: { type: 'string', default: 'Heat::Ungrouped' },
    config: { type: 'string' },
    inputs: { type: 'list' },
    outputs: { type: 'list' },
    options: { type: 'map' },
  },
  async (ctx, props) => ({
    group: optionalString(ctx, props, 'group', 'Heat::Ungrouped'),
    config: optionalString(ctx, props, 'config', ''),
    inputs: optionalList(ctx, props, 'inputs'),
    outputs: optionalList(ctx, props, 'outputs'),
    options: optionalMap(ctx, props, 'options'),
  }),
);
