export { SmdpSimulator, issuerCodeFor } from './smdp-simulator';
export type { SmdpAnswer, SmdpFunction, Es2Function, SmdpSimulatorOptions } from './smdp-simulator';
export { startSmdpServer } from './server';
export type { SmdpServerOptions, RunningSmdpServer } from './server';
export { loadSmdpSimEnv, smdpSimEnvSchema } from './config';
export type { SmdpSimEnv } from './config';
