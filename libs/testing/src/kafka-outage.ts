import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './infrastructure';

const run = promisify(execFile);

/** Takes the test run's Kafka broker away and brings it back, for outage tests. */
export interface KafkaOutage {
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * How to stop the broker the tests use: `docker pause` for the Testcontainers broker, or the
 * project stack's `stop kafka` / `up`. A broker the run did not start (KAFKA_BROKERS pointing at
 * somebody's cluster) is refused rather than stopped.
 */
export async function kafkaOutage(brokers: string): Promise<KafkaOutage> {
  const container = process.env.METERLINK_KAFKA_CONTAINER_ID;
  if (container) {
    return {
      stop: async () => void (await run('docker', ['pause', container])),
      start: async () => void (await run('docker', ['unpause', container])),
    };
  }
  const script = join(REPO_ROOT, 'tools', 'stack', 'stack.sh');
  const { stdout } = await run('bash', [script, 'env'], { cwd: REPO_ROOT });
  const stackBrokers = /^export KAFKA_BROKERS=(.*)$/m.exec(stdout)?.[1];
  if (stackBrokers !== brokers)
    throw new Error(
      `Kafka outage tests stop the broker, so it must be the project's own: KAFKA_BROKERS=${brokers} is not the stack's (${stackBrokers ?? 'none'})`,
    );
  return {
    stop: async () => void (await run('bash', [script, 'stop', 'kafka'], { cwd: REPO_ROOT })),
    start: async () =>
      void (await run('bash', [script, 'up'], { cwd: REPO_ROOT, timeout: 300_000 })),
  };
}
