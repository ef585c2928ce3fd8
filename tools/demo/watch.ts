import { randomUUID } from 'node:crypto';
import {
  TOPICS,
  type CoverageEventRecord,
  type IngestRejectedRecord,
  type ProfileSwapRecord,
} from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';

/**
 * The demo's live view: what flows through the platform's topics, as it happens. A terminal UI,
 * so it writes plain lines to stdout rather than structured logs.
 */
const kafka = createKafka({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
  clientId: 'demo-watch',
});
const consumer = kafka.consumer({ groupId: `demo-watch-${randomUUID()}`, maxWaitTimeInMs: 100 });
const counts = { readings: 0, connectivity: 0, rejected: 0 };
const swapStates = new Map<string, number>();
let lastReadings = 0;
const started = Date.now();

const out = (line: string): void => {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${t}s] ${line}\n`);
};

async function main(): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({
    topics: [
      TOPICS.meterReadings.name,
      TOPICS.meterConnectivity.name,
      TOPICS.coverageEvents.name,
      TOPICS.profileSwaps.name,
      TOPICS.ingestRejected.name,
    ],
    fromBeginning: false,
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const value = JSON.parse(message.value?.toString() ?? '{}') as Record<string, unknown>;
      switch (topic) {
        case TOPICS.meterReadings.name:
          counts.readings++;
          break;
        case TOPICS.meterConnectivity.name:
          counts.connectivity++;
          break;
        case TOPICS.ingestRejected.name: {
          counts.rejected++;
          const r = value as IngestRejectedRecord;
          out(`REJECTED   ${r.meterId ?? '?'} ${r.reason}`);
          break;
        }
        case TOPICS.coverageEvents.name: {
          const e = value as CoverageEventRecord;
          out(
            `COVERAGE   ${e.type.padEnd(15)} ${(e.meterId ?? '').padEnd(20)} ${e.carrierId}/${e.region} (${e.reason ?? ''})`,
          );
          break;
        }
        case TOPICS.profileSwaps.name: {
          const s = value as ProfileSwapRecord;
          swapStates.set(s.state, (swapStates.get(s.state) ?? 0) + 1);
          out(
            `SWAP       ${s.state.padEnd(15)} ${s.meterId.padEnd(20)} ${s.fromCarrierId} → ${s.toCarrierId} (${s.trigger}${s.reasonCode ? `, ${s.reasonCode}` : ''})`,
          );
          break;
        }
      }
      await Promise.resolve();
    },
  });
  setInterval(() => {
    const rate = (counts.readings - lastReadings) / 10;
    lastReadings = counts.readings;
    const swaps = [...swapStates].map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet';
    out(
      `FLOW       readings ${counts.readings} (${rate.toFixed(1)}/s), telemetry ${counts.connectivity}, rejected ${counts.rejected}; swaps: ${swaps}`,
    );
  }, 10_000).unref();
}

const stop = (): void => {
  consumer.disconnect().then(
    () => process.exit(0),
    () => process.exit(0),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
main().catch((error: unknown) => {
  process.stderr.write(`watch failed: ${String(error)}\n`);
  process.exit(1);
});
