export {
  loadScenario,
  parseScenario,
  scenarioSchema,
  toRealMs,
  toRealSeconds,
  ScenarioError,
} from './scenario';
export type {
  Scenario,
  ScenarioInput,
  FleetGroup,
  Outage,
  OutageMode,
  Injection,
} from './scenario';
export {
  generateFleet,
  writeFleet,
  loadFleetState,
  saveFleetState,
  fleetFiles,
  MANIFEST_FILE,
  CATALOGUE_FILE,
  FLEET_STATE_FILE,
} from './fleet';
export type { GeneratedFleet, GenerateOptions, FleetFiles } from './fleet';
export type {
  FleetState,
  FleetStateMeter,
  MeterRuntime,
  SimProfile,
  PendingItem,
} from './fleet-state';
export { FleetSimulator } from './fleet-simulator';
export type { FleetSimulatorOptions, FleetStats } from './fleet-simulator';
export { Meter, FIRMWARE_VERSION, LOW_BATTERY_PCT } from './meter';
export type {
  MeterEvent,
  MeterEventBody,
  MeterStatus,
  MeterLink,
  MeterTiming,
  MeterIdentity,
  MeterDeps,
  InjectionKind,
} from './meter';
export { HttpSmdpClient } from './smdp-client';
export type { SmdpEs9Client, SmdpDownloadOutcome } from './smdp-client';
export type { SimLink, LinkListener } from './mqtt-link';
export { ServiceModel } from './coverage';
export type { ServiceLevel } from './coverage';
export { loadEimKeyring, keyringFromJwks } from './eim-keys';
export type { EimKeyring, Jwks } from './eim-keys';
export { ManualScheduler, RealScheduler } from './scheduler';
export type { Scheduler, TimerHandle } from './scheduler';
