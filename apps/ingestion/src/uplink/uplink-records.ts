import {
  HEADER_CORRELATION_ID,
  HEADER_EVENT_TYPE,
  TOPICS,
  stableEventId,
  type EsipaInboundRecord,
  type MeterEventRecord,
  type TelemetryMessage,
} from '@meterlink/contracts';
import { jsonRecord, jsonTextRecord, type OutgoingRecord } from '@meterlink/kafka';
import type { DecodedUplink } from './uplink-decoder';

const READING_TYPE = Buffer.from('meter.reading');
const CONNECTIVITY_TYPE = Buffer.from('meter.connectivity');

/** A JSON string literal (escaped). */
const str = JSON.stringify;

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
    case 'telemetry':
      return telemetryRecords(decoded.message, ctx);
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

/**
 * The meter.readings.v1 and meter.connectivity.v1 records of a telemetry message, written as JSON
 * text directly: the same bytes as JSON.stringify of the MeterReadingRecord and
 * MeterConnectivityRecord objects (same keys, same order; uplink-records.spec.ts compares them),
 * at a fraction of the cost and without the intermediate objects. Values the schema restricts to
 * characters JSON never escapes (datetimes, enums, digit strings) and our own ids are written as
 * they are; free text (meterId, carrierId, cellId) goes through JSON.stringify. Numbers print as
 * JSON prints them (finite numbers and null).
 */
function telemetryRecords(m: TelemetryMessage, ctx: UplinkContext): OutgoingRecord[] {
  const { meterId, receivedAt, correlationId } = ctx;
  const meter = str(meterId);
  // The headers' values as the producer sends them, encoded once per message (shared records).
  const correlation = Buffer.from(correlationId, 'utf8');
  const records: OutgoingRecord[] = [];
  for (let index = 0; index < m.readings.length; index++) {
    const r = m.readings[index]!;
    const json =
      `{"eventId":"${stableEventId('reading', meterId, m.seq, index)}","type":"meter.reading",` +
      `"at":"${r.at}","correlationId":"${correlationId}","meterId":${meter},"kind":"${m.kind}",` +
      `"register":"${r.register}","value":${r.value},"seq":${m.seq},"receivedAt":"${receivedAt}",` +
      `"sentAt":"${m.sentAt}"}`;
    records.push(
      jsonTextRecord(TOPICS.meterReadings, meterId, json, {
        [HEADER_EVENT_TYPE]: READING_TYPE,
        [HEADER_CORRELATION_ID]: correlation,
      }),
    );
  }
  const { radio, usage } = m;
  const json =
    `{"eventId":"${stableEventId('connectivity', meterId, m.seq)}","type":"meter.connectivity",` +
    `"at":"${m.sentAt}","correlationId":"${correlationId}","meterId":${meter},` +
    `"receivedAt":"${receivedAt}","seq":${m.seq},"kind":"${m.kind}","iccid":"${radio.iccid}",` +
    `"carrierId":${str(ctx.carrierOf(radio.iccid, radio.plmn))},"plmn":"${radio.plmn}",` +
    `"rat":"${radio.rat}","cellId":${str(radio.cellId)},"rsrp":${radio.rsrp},` +
    `"rsrq":${radio.rsrq},"sinr":${radio.sinr},"attachFailures":${radio.attachFailures},` +
    `"bytesUp":${usage.bytesUp},"bytesDown":${usage.bytesDown}` +
    (m.battery ? `,"batteryPct":${m.battery.pct}}` : '}');
  records.push(
    jsonTextRecord(TOPICS.meterConnectivity, meterId, json, {
      [HEADER_EVENT_TYPE]: CONNECTIVITY_TYPE,
      [HEADER_CORRELATION_ID]: correlation,
    }),
  );
  return records;
}
