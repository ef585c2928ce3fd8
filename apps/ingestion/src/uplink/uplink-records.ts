import {
  TOPICS,
  stableEventId,
  type EsipaInboundRecord,
  type MeterConnectivityRecord,
  type MeterEventRecord,
  type MeterReadingRecord,
} from '@meterlink/contracts';
import { jsonRecord, type OutgoingRecord } from '@meterlink/kafka';
import type { DecodedUplink } from './uplink-decoder';

export interface UplinkContext {
  meterId: string;
  receivedAt: string;
  correlationId: string;
  carrierOf: (iccid: string, plmn: string) => string | null;
}

/**
 * The Kafka records one accepted uplink message becomes. Event ids derive from (meterId, seq), so
 * reprocessing the same message yields the same records, byte for byte except `receivedAt`.
 */
export function uplinkRecords(decoded: DecodedUplink, ctx: UplinkContext): OutgoingRecord[] {
  const { meterId, receivedAt, correlationId } = ctx;
  switch (decoded.channel) {
    case 'telemetry': {
      const m = decoded.message;
      const readings = m.readings.map((r, index) => {
        const record: MeterReadingRecord = {
          eventId: stableEventId('reading', meterId, m.seq, index),
          type: 'meter.reading',
          at: r.at,
          correlationId,
          meterId,
          kind: m.kind,
          register: r.register,
          value: r.value,
          seq: m.seq,
          receivedAt,
          sentAt: m.sentAt,
        };
        return jsonRecord(TOPICS.meterReadings, meterId, record);
      });
      const connectivity: MeterConnectivityRecord = {
        eventId: stableEventId('connectivity', meterId, m.seq),
        type: 'meter.connectivity',
        at: m.sentAt,
        correlationId,
        meterId,
        receivedAt,
        seq: m.seq,
        kind: m.kind,
        iccid: m.radio.iccid,
        carrierId: ctx.carrierOf(m.radio.iccid, m.radio.plmn),
        plmn: m.radio.plmn,
        rat: m.radio.rat,
        cellId: m.radio.cellId,
        rsrp: m.radio.rsrp,
        rsrq: m.radio.rsrq,
        sinr: m.radio.sinr,
        attachFailures: m.radio.attachFailures,
        bytesUp: m.usage.bytesUp,
        bytesDown: m.usage.bytesDown,
        ...(m.battery ? { batteryPct: m.battery.pct } : {}),
      };
      return [...readings, jsonRecord(TOPICS.meterConnectivity, meterId, connectivity)];
    }
    case 'events': {
      const m = decoded.message;
      const base = {
        eventId: stableEventId('event', meterId, m.seq),
        correlationId,
        meterId,
        receivedAt,
        seq: m.seq,
      };
      const record: MeterEventRecord =
        m.type === 'alarm'
          ? { ...base, type: 'alarm', at: m.at, code: m.code }
          : { ...base, type: 'boot', at: m.sentAt, fw: m.fw, eid: m.eid, profiles: m.profiles };
      return [jsonRecord(TOPICS.meterEvents, meterId, record)];
    }
    case 'esipa': {
      const m = decoded.message;
      const inbound: EsipaInboundRecord = {
        eventId: stableEventId('esipa', meterId, m.seq),
        type: 'esipa.inbound',
        at: receivedAt,
        correlationId,
        meterId,
        seq: m.seq,
        receivedAt,
        message: m,
      };
      const records = [jsonRecord(TOPICS.esipaInbound, meterId, inbound)];
      // The eUICC's own profile changes are device events for downstream consumers too.
      if (m.type === 'notifications') {
        for (const n of m.notifications) {
          if (n.event !== 'fallback' && n.event !== 'rollback') continue;
          const event: MeterEventRecord = {
            eventId: stableEventId('event', meterId, m.seq, n.seqNumber),
            type: n.event,
            at: n.at,
            correlationId,
            meterId,
            receivedAt,
            seq: m.seq,
            iccid: n.iccid,
            eid: m.eid,
          };
          records.push(jsonRecord(TOPICS.meterEvents, meterId, event));
        }
      }
      return records;
    }
  }
}
