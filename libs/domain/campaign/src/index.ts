export * from './campaign-policy.error';
export * from './waves';
export * from './gate';
export * from './rate-limit';
export * from './campaign';
