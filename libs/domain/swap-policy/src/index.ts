export * from './decide-swap';
export * from './choose-target';
