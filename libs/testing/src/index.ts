export * from './eventually';
export * from './infrastructure';
export * from './topic-recorder';
export * from './service-process';
export * from './platform';
export * from './test-fleet';
