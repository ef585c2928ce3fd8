import { randomBytes, randomUUID } from 'node:crypto';
import { TOPICS, type MeterEventRecord } from '@meterlink/contracts';
import { BatchConsumer, createKafka, type ConsumedBatch } from '@meterlink/kafka';
import { eventually } from './eventually';
import { infraEnv } from './infrastructure';

/**
 * BatchConsumer (@meterlink/kafka) against the real broker; it lives here because the kafka
 * library's own tests cannot use this testing library without a dependency cycle.
 *
 * A group restarted after downtime must read what was written meanwhile to a partition on which
 * it had never consumed anything: such a partition has no committed offset, and kafkajs starts a
 * partition without one at its end.
 */
describe('BatchConsumer restarted after downtime', () => {
  const infra = infraEnv();
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-consumer' });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const topic = TOPICS.meterEvents.name;
  const tag = randomBytes(3).toString('hex');

  const alarm = (n: number): MeterEventRecord => ({
    eventId: randomUUID(),
    type: 'alarm',
    at: new Date().toISOString(),
    meterId: `PIN-${tag}-${n}`,
    receivedAt: new Date().toISOString(),
    seq: n,
    code: 'tamper',
  });
  const produce = async (partition: number, record: MeterEventRecord): Promise<void> => {
    await producer.send({
      topic,
      acks: -1,
      messages: [{ partition, key: record.meterId, value: JSON.stringify(record) }],
    });
  };

  beforeAll(() => producer.connect());
  afterAll(() => producer.disconnect());

  it('reads what reached a never-consumed partition while the group was down', async () => {
    const groupId = `int-pin-${tag}`;
    const seen: string[] = [];
    const consumer = (): BatchConsumer =>
      new BatchConsumer(kafka, {
        groupId,
        topics: [topic],
        handler: (batch: ConsumedBatch) => {
          for (const r of batch.records) {
            const value = r.value as MeterEventRecord;
            if (value.meterId.startsWith(`PIN-${tag}-`)) seen.push(value.meterId);
          }
          return Promise.resolve();
        },
      });

    const first = consumer();
    await first.start();
    await eventually(() => first.isRunning(), { timeoutMs: 30_000, what: 'the group joined' });
    await produce(0, alarm(1));
    await eventually(() => seen.includes(`PIN-${tag}-1`), {
      timeoutMs: 30_000,
      what: 'the record on partition 0',
    });
    await first.stop();

    // Partition 5 never carried anything while the group ran.
    await produce(5, alarm(2));
    const second = consumer();
    await second.start();
    try {
      await eventually(() => seen.includes(`PIN-${tag}-2`), {
        timeoutMs: 30_000,
        what: 'the record written to partition 5 during the downtime',
      });
      expect(seen.filter((m) => m === `PIN-${tag}-1`)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});
