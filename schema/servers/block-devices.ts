import { InvalidInputError } from '../../resolvers/errors';
import { builder } from '../builder';
import { VolumeType } from '../volumes/types';

/** createServer's block device mappings (Nova's block_device_mapping_v2; boot from volume). */

const BlockDeviceSourceType = builder.enumType('BlockDeviceSourceType', {
  values: {
    IMAGE: { value: 'image', description: 'A new volume holding the image `uuid`' },
    VOLUME: { value: 'volume', description: 'The existing bootable volume `uuid`' },
    SNAPSHOT: { value: 'snapshot', description: 'A new volume from the volume snapshot `uuid`' },
    BLANK: { value: 'blank', description: 'A new blank volume: not supported yet' },
  } as const,
});

const BlockDeviceDestinationType = builder.enumType('BlockDeviceDestinationType', {
  values: {
    VOLUME: { value: 'volume', description: 'A Cinder volume' },
    LOCAL: { value: 'local', description: 'A disk on the compute host: not supported yet' },
  } as const,
});

export const BlockDeviceMappingInput = builder.inputType('BlockDeviceMappingInput', {
  description:
    'One block device of a new server. Supported: one mapping, bootIndex 0, destination VOLUME, source IMAGE, VOLUME or SNAPSHOT (boot from volume)',
  fields: (t) => ({
    bootIndex: t.int({ description: '0: the boot disk (the only one supported); default 0' }),
    sourceType: t.field({ type: BlockDeviceSourceType, required: true }),
    destinationType: t.field({ type: BlockDeviceDestinationType, description: 'Default VOLUME' }),
    uuid: t.globalID({
      description: 'The source: an Image (IMAGE), Volume (VOLUME) or VolumeSnapshot (SNAPSHOT) id',
    }),
    volumeSize: t.int({
      description: "GiB of the new volume (IMAGE, SNAPSHOT); default: the source's size",
    }),
    volumeTypeId: t.globalID({ for: VolumeType, description: 'Of the new volume (IMAGE)' }),
    deleteOnTermination: t.boolean({
      description: 'Delete the volume with the server; default false',
    }),
  }),
});

const SOURCE_TYPENAMES: Record<string, string> = {
  image: 'Image',
  volume: 'Volume',
  snapshot: 'VolumeSnapshot',
};

/** Maps the mappings to the service's input; an id of the wrong kind is an input error. */
export function blockDeviceRequests(
  mappings: (typeof BlockDeviceMappingInput.$inferInput)[] | null | undefined,
): unknown[] | undefined {
  return mappings?.map((m, i) => {
    const expected = SOURCE_TYPENAMES[m.sourceType];
    if (m.uuid && expected && m.uuid.typename !== expected) {
      throw new InvalidInputError(
        `input.blockDeviceMappings.${i}.uuid`,
        `input.blockDeviceMappings.${i}.uuid must be a ${expected} id`,
      );
    }
    return {
      bootIndex: m.bootIndex,
      sourceType: m.sourceType,
      destinationType: m.destinationType,
      uuid: m.uuid?.id,
      volumeSize: m.volumeSize,
      volumeTypeId: m.volumeTypeId?.id,
      deleteOnTermination: m.deleteOnTermination,
    };
  });
}
