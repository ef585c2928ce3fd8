export * from './decide-swap';
