import { ConfigError } from '@meterlink/config';
import { BatchingProducer, kafkaClient } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import { loadCoverageConfig } from '../config';
import { MeterDirectory } from '../fleet/meter-directory';
import { parseDuration } from './duration';
import { CoverageRebuild } from './rebuild';

const USAGE = `node dist/apps/coverage-monitor/src/rebuild/rebuild.main.js [--reports-since 48h] [--outages-since 30d]
Rebuilds coverage-monitor's Redis state from Kafka. Every replica must be stopped. Same
environment as the service (KAFKA_BROKERS, REDIS_URL, COVERAGE_*).
  --reports-since   connectivity reports replayed; at least the longest silence deadline (36 h for
                    daily meters), default 48h
  --outages-since   carrier events read for outages still open, default 30d`;

async function run(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const option = (name: string, fallback: string): number => {
    const i = args.indexOf(name);
    return parseDuration(i >= 0 ? (args[i + 1] ?? '') : fallback);
  };
  const reportsSinceMs = option('--reports-since', '48h');
  const outagesSinceMs = option('--outages-since', '30d');
  const config = loadCoverageConfig();
  const kafka = kafkaClient(config.KAFKA_BROKERS, 'coverage-monitor-rebuild');
  const redis = createRedis(config.REDIS_URL, 'coverage-monitor-rebuild');
  const fleet = new MeterDirectory(kafka, 'coverage-monitor-rebuild');
  try {
    await fleet.start();
    await fleet.waitUntilCaughtUp(30 * 60_000);
    // Never connected: a rebuild publishes nothing.
    const producer = new BatchingProducer(kafka);
    const result = await new CoverageRebuild(config, kafka, redis, fleet, producer).run({
      reportsSinceMs,
      outagesSinceMs,
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await fleet.stop();
    await redis.quit();
  }
}

run().then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`coverage rebuild: ${error.message}\n`);
      process.exit(78);
    }
    process.stderr.write(
      `coverage rebuild failed: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`,
    );
    process.exit(1);
  },
);
