export type { OvsNetworkConfig } from './driver';
export { OvsNetworkDriver } from './driver';
export { InvalidNetworkSpecError } from './validate';
