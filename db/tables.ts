/** Every table, for drizzle's typed client and for drizzle-kit. */

export * from './alarms';
export * from './audit';
export * from './baremetal';
export * from './compute';
export * from './events';
export * from './identity';
export * from './images';
export * from './metering';
export * from './networks';
export * from './objects';
export * from './operations';
export * from './quotas';
export * from './servers';
export * from './stacks';
export * from './volumes';
