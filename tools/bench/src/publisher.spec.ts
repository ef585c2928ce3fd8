import { parser, type Packet } from 'mqtt-packet';
import { encodePublish, publishSize } from './publisher';

describe('encodePublish', () => {
  it.each([10, 200, 20_000])(
    'writes an MQTT 5 QoS 1 PUBLISH that mqtt-packet reads back (%i-byte payload)',
    (payloadBytes) => {
      const topic = Buffer.from('mtr/v1/bench-u0000001/up/telemetry');
      const payload = 'x'.repeat(payloadBytes);
      const out = Buffer.alloc(publishSize(topic.length, payload.length) * 2);
      const first = encodePublish(out, 0, topic, 7, payload);
      expect(first).toBe(publishSize(topic.length, payload.length));
      const end = encodePublish(out, first, topic, 65_535, payload);
      const packets: Packet[] = [];
      const p = parser({ protocolVersion: 5 });
      p.on('packet', (packet: Packet) => packets.push(packet));
      p.parse(out.subarray(0, end));
      expect(packets).toHaveLength(2);
      expect(packets[0]).toMatchObject({
        cmd: 'publish',
        qos: 1,
        messageId: 7,
        topic: topic.toString(),
      });
      expect(packets[1]).toMatchObject({ messageId: 65_535 });
      const first0 = packets[0] as Packet & { payload: Buffer };
      expect(first0.payload.toString()).toBe(payload);
    },
  );
});
