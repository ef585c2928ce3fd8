export * from './policy';
export * from './signal';
export * from './outage';
