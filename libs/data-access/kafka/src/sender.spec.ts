import { Partitioners } from 'kafkajs';
import { javaCompatiblePartition } from './sender';

describe('javaCompatiblePartition', () => {
  it('puts every key on the partition kafkajs (and the Java client) would', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 12, 24]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
        partitionId,
        leader: 1,
        replicas: [1],
        isr: [1],
        partitionErrorCode: 0,
      }));
      for (let i = 0; i < 5_000; i++) {
        const key = `EM-${String(i * 7919).padStart(7, '0')}`;
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: '' } });
        expect(javaCompatiblePartition(Buffer.from(key)) % partitions).toBe(expected);
      }
    }
  });
});
