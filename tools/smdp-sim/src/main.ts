import { createLogger } from '@meterlink/observability';
import { loadSmdpSimEnv } from './config';
import { startSmdpServer } from './server';
import { SmdpSimulator } from './smdp-simulator';

process.env.SERVICE_NAME ??= 'smdp-sim';
const log = createLogger('smdp-sim');

async function main(): Promise<void> {
  const config = loadSmdpSimEnv();
  const simulator = new SmdpSimulator({
    orderTtlS: config.SMDP_ORDER_TTL_S,
    smdpAddressTemplate: config.SMDP_ADDRESS_TEMPLATE,
  });
  const running = await startSmdpServer({
    simulator,
    port: config.SMDP_SIM_PORT,
    host: config.SMDP_SIM_HOST,
    logger: log,
  });
  log.info(
    { url: running.url, orderTtlS: config.SMDP_ORDER_TTL_S },
    'SM-DP+ simulator listening (carrier base URL: <url>/<carrierId>)',
  );
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ signal, ...simulator.allStats().total }, 'stopping');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  log.error({ err: error instanceof Error ? error.message : String(error) }, 'smdp-sim failed');
  process.exit(1);
});
