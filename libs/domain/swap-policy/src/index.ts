export * from './decide-swap';
export * from './choose-target';
export * from './coverage-stats';
