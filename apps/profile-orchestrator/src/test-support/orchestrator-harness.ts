import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import {
  TOPICS,
  type CoverageCarrierStatsRecord,
  type EimPackagePayload,
  type EsipaOutboundRecord,
  type FleetCarrierRecord,
  type FleetRegionRecord,
  type MeterConnectivityRecord,
  type ProfileSwapRecord,
} from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { privateKeyFromJwk, signCompact } from '@meterlink/jws';
import {
  ServiceProcess,
  SmdpSimProcess,
  TopicRecorder,
  eventually,
  fleetRecordOf,
  infraEnv,
  stackVariables,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';

export type OutboundMessage = EsipaOutboundRecord['message'];

/**
 * The orchestrator as a process over the real Kafka and PostgreSQL of the stack, with the meter
 * side simulated by the test: fleet records and ESipa messages published to the orchestrator's
 * input topics, its answers read from esipa.outbound.v1 and profile.swaps.v1. Carriers and
 * regions are this run's own, so tests sharing a stack never meet.
 */
export class OrchestratorHarness {
  readonly infra = infraEnv();
  /** Migrations run as the schema's owner, the service as DATABASE_URL's role (as deployed). */
  readonly ownerUrl = stackVariables(['DATABASE_OWNER_URL']).DATABASE_OWNER_URL;
  readonly kafka = createKafka({
    brokers: this.infra.KAFKA_BROKERS.split(','),
    clientId: `int-orch-${randomBytes(3).toString('hex')}`,
  });
  readonly recorder = new TopicRecorder(this.kafka, [
    TOPICS.esipaOutbound.name,
    TOPICS.profileSwaps.name,
  ]);
  readonly tag = randomBytes(3).toString('hex');
  readonly region = `orch-${this.tag}`;
  /** carrier-a and carrier-b have profiles on the test meters' eUICCs; carrier-d is download-only. */
  readonly carriers = {
    a: `ca-${this.tag}`,
    b: `cb-${this.tag}`,
    d: `cd-${this.tag}`,
  };
  readonly tokens = {
    viewer: randomBytes(16).toString('hex'),
    operator: randomBytes(16).toString('hex'),
    admin: randomBytes(16).toString('hex'),
    admin2: randomBytes(16).toString('hex'),
  };
  readonly smdp: SmdpSimProcess;
  service: ServiceProcess;
  private producer: Producer | undefined;
  private readonly seqs = new Map<string, number>();
  private readonly env: Record<string, string>;

  constructor(
    readonly port: number,
    smdpPort: number,
    extraEnv: Record<string, string> = {},
  ) {
    this.smdp = new SmdpSimProcess(smdpPort, {}, `int-orch-${port}`);
    const keyFile = join(mkdtempSync(join(tmpdir(), 'meterlink-eim-')), 'eim-key.json');
    this.env = {
      ...this.infra,
      DATABASE_OWNER_URL: this.ownerUrl,
      LOG_LEVEL: 'info',
      EIM_KEY_FILE: keyFile,
      ORCHESTRATOR_API_TOKENS: [
        `${this.tokens.viewer}:viewer`,
        `${this.tokens.operator}:operator`,
        `${this.tokens.admin}:admin`,
        `${this.tokens.admin2}:admin`,
      ].join(','),
      SMDP_URL_TEMPLATE: this.smdp.urlTemplate,
      SWEEP_INTERVAL_MS: '100',
      CAMPAIGN_TICK_MS: '100',
      ...extraEnv,
    };
    this.service = this.newProcess();
  }

  private newProcess(): ServiceProcess {
    return new ServiceProcess('profile-orchestrator', this.port, this.env, `int-orch-${this.port}`);
  }

  async start(): Promise<void> {
    await this.smdp.start();
    await this.recorder.start();
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: true });
    await this.producer.connect();
    await this.publish(
      TOPICS.fleetCarriers.name,
      Object.values(this.carriers).map((carrierId, i) => ({
        key: carrierId,
        value: {
          eventId: randomUUID(),
          type: 'fleet.carrier',
          at: new Date().toISOString(),
          carrierId,
          name: carrierId,
          plmns: [`9990${i}`],
          smdpAddress: `smdp.${carrierId}.example`,
          tariff: {
            currency: 'EUR',
            monthlyFeeMinor: 50,
            perMbMinor: 20,
            downloadFeeMinor: 100,
            swapFeeMinor: 10,
          },
        } satisfies FleetCarrierRecord,
      })),
    );
    await this.publish(TOPICS.fleetRegions.name, [
      {
        key: this.region,
        value: {
          eventId: randomUUID(),
          type: 'fleet.region',
          at: new Date().toISOString(),
          region: this.region,
          carriers: [this.carriers.a, this.carriers.b, this.carriers.d],
        } satisfies FleetRegionRecord,
      },
    ]);
    await this.service.start();
    await this.fence();
  }

  /**
   * One harmless record on every partition of the orchestrator's input topics, waited for until
   * its consumer group has committed past them all. A group with no committed offset on a
   * partition starts at its end (BatchConsumer's default), so without this a restarted
   * orchestrator would skip what was written to such a partition while it was down.
   */
  private async fence(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const topics = [
        TOPICS.esipaInbound.name,
        TOPICS.meterConnectivity.name,
        TOPICS.coverageEvents.name,
      ];
      const targets = new Map<string, bigint>();
      for (const topic of topics) {
        const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => p.partition);
        const results = await this.producer!.send({
          topic,
          acks: -1,
          messages: partitions.map((partition) => ({
            partition,
            key: `fence-${partition}`,
            value: JSON.stringify(this.fenceRecord(topic, partition)),
          })),
        });
        for (const r of results)
          targets.set(`${topic}/${r.partition}`, BigInt(r.baseOffset ?? '0') + 1n);
      }
      await eventually(
        async () => {
          const committed = await admin.fetchOffsets({ groupId: 'profile-orchestrator', topics });
          return committed.every((t) =>
            t.partitions.every(
              (p) => BigInt(p.offset) >= (targets.get(`${t.topic}/${p.partition}`) ?? 0n),
            ),
          );
        },
        { timeoutMs: 60_000, intervalMs: 250, what: 'the orchestrator to commit past the fences' },
      );
    } finally {
      await admin.disconnect();
    }
  }

  private fenceRecord(topic: string, partition: number): Record<string, unknown> {
    const now = new Date().toISOString();
    const meterId = `fence-${this.tag}-${partition}`;
    const envelope = { eventId: randomUUID(), at: now };
    if (topic === TOPICS.esipaInbound.name)
      return {
        ...envelope,
        type: 'esipa.inbound',
        meterId,
        seq: 1,
        receivedAt: now,
        message: { v: 1, seq: 1, type: 'getEimPackage', eid: '0'.repeat(32) },
      };
    if (topic === TOPICS.meterConnectivity.name)
      return {
        ...envelope,
        type: 'meter.connectivity',
        meterId,
        receivedAt: now,
        seq: 1,
        kind: 'electricity',
        iccid: '8944000000000000000',
        carrierId: null,
        plmn: '99900',
        rat: 'nbiot',
        cellId: null,
        rsrp: null,
        rsrq: null,
        sinr: null,
        attachFailures: 0,
        bytesUp: 0,
        bytesDown: 0,
      };
    return {
      ...envelope,
      type: 'meter.restored',
      carrierId: this.carriers.a,
      region: this.region,
      meterId,
    };
  }

  /** SIGKILL, as a crash: no drain, no goodbye. */
  async kill(): Promise<void> {
    await this.service.stop('SIGKILL');
  }

  async restart(): Promise<void> {
    this.service = this.newProcess();
    await this.service.start();
  }

  async stop(): Promise<number | null> {
    const code = await this.service.stop();
    await this.producer?.disconnect();
    await this.recorder.stop();
    await this.smdp.stop();
    return code;
  }

  private async publish(topic: string, records: { key: string; value: unknown }[]): Promise<void> {
    await this.producer!.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({
        key: r.key,
        value: JSON.stringify(r.value),
        headers: { 'event-type': (r.value as { type: string }).type },
      })),
    });
  }

  /**
   * Test meters of this run: profiles on carrier a (enabled) and b, or only a (`downloadOnly`),
   * known to the orchestrator once this resolves.
   */
  async meters(
    count: number,
    options: {
      downloadOnly?: boolean;
      kind?: 'electricity' | 'gas' | 'water';
      reportIntervalS?: number;
      rollbackWindowS?: number;
    } = {},
  ): Promise<TestMeter[]> {
    const meters = testMeters(count, {
      region: this.region,
      kind: options.kind ?? 'electricity',
      reportIntervalS: options.reportIntervalS ?? 60,
      ...(options.rollbackWindowS ? { rollbackWindowS: options.rollbackWindowS } : {}),
    });
    for (const m of meters) {
      m.line.meterId = `O-${this.tag}-${m.line.meterId.slice(2)}`;
      m.line.profiles = m.line.profiles
        .filter((p) => !options.downloadOnly || p.carrierId === 'carrier-a')
        .map((p) => ({
          ...p,
          carrierId: p.carrierId === 'carrier-a' ? this.carriers.a : this.carriers.b,
          fallback: p.carrierId === 'carrier-b',
        }));
    }
    await this.publish(
      TOPICS.fleetMeters.name,
      meters.map((m) => ({ key: m.line.meterId, value: fleetRecordOf(m) })),
    );
    for (const m of meters)
      await eventually(
        async () =>
          (await this.api('GET', `/v1/meters/${m.line.meterId}/swaps`, undefined, 'viewer'))
            .status === 200,
        { timeoutMs: 30_000, what: `the orchestrator to know ${m.line.meterId}` },
      );
    return meters;
  }

  async api(
    method: string,
    path: string,
    body?: unknown,
    role: keyof OrchestratorHarness['tokens'] = 'admin',
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.service.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.tokens[role]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  /** An ESipa uplink message as ingestion publishes it, with the meter's next seq. */
  async esipa(meter: TestMeter, message: Record<string, unknown>): Promise<void> {
    const seq = (this.seqs.get(meter.line.meterId) ?? 0) + 1;
    this.seqs.set(meter.line.meterId, seq);
    await this.publish(TOPICS.esipaInbound.name, [
      {
        key: meter.line.meterId,
        value: {
          eventId: randomUUID(),
          type: 'esipa.inbound',
          at: new Date().toISOString(),
          meterId: meter.line.meterId,
          seq,
          receivedAt: new Date().toISOString(),
          message: { v: 1, seq, ...message },
        },
      },
    ]);
  }

  /** What a meter's IPA does with an activation code: ES9+ downloadProfile at the SM-DP+. */
  async download(
    carrierId: string,
    eid: string,
    matchingId: string,
  ): Promise<{ iccid: string } | { reason: string }> {
    const res = await fetch(`${this.smdp.baseUrl(carrierId)}/gsma/rsp2/es9plus/downloadProfile`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eid, matchingId }),
    });
    return (await res.json()) as { iccid: string } | { reason: string };
  }

  /**
   * Telemetry seen on a profile, as ingestion writes it to meter.connectivity.v1; the radio is
   * cell 1A2B3C at −90 dBm unless given.
   */
  async traffic(
    meter: TestMeter,
    iccid: string,
    carrierId: string,
    batteryPct?: number,
    radio: { cellId?: string | null; rsrp?: number | null } = {},
  ): Promise<void> {
    const seq = (this.seqs.get(meter.line.meterId) ?? 0) + 1;
    this.seqs.set(meter.line.meterId, seq);
    const now = new Date().toISOString();
    await this.publish(TOPICS.meterConnectivity.name, [
      {
        key: meter.line.meterId,
        value: {
          eventId: randomUUID(),
          type: 'meter.connectivity',
          at: now,
          receivedAt: now,
          meterId: meter.line.meterId,
          seq,
          kind: meter.line.kind,
          iccid,
          carrierId,
          plmn: '23420',
          rat: 'nbiot',
          cellId: radio.cellId === undefined ? '1A2B3C' : radio.cellId,
          rsrp: radio.rsrp === undefined ? -90 : radio.rsrp,
          rsrq: -9,
          sinr: 6,
          attachFailures: 0,
          bytesUp: 200,
          bytesDown: 40,
          ...(batteryPct !== undefined ? { batteryPct } : {}),
        } satisfies MeterConnectivityRecord,
      },
    ]);
  }

  async coverage(value: Record<string, unknown>, key: string): Promise<void> {
    await this.publish(TOPICS.coverageEvents.name, [
      { key, value: { eventId: randomUUID(), at: new Date().toISOString(), ...value } },
    ]);
  }

  /** What the coverage monitor would say of a carrier's meters in this run's region (counted `at`, default now). */
  async carrierStats(
    carrierId: string,
    counts: { meters: number; degraded?: number; lost?: number },
    at = new Date(),
  ): Promise<void> {
    const degraded = counts.degraded ?? 0;
    const lost = counts.lost ?? 0;
    const record: CoverageCarrierStatsRecord = {
      eventId: randomUUID(),
      type: 'coverage.carrier-stats',
      at: at.toISOString(),
      carrierId,
      region: this.region,
      meters: counts.meters,
      healthy: counts.meters - degraded - lost,
      degraded,
      lost,
      slowMeters: 0,
    };
    await this.publish(TOPICS.coverageCarriers.name, [
      { key: `${carrierId}/${this.region}`, value: record },
    ]);
  }

  outbound(meterId: string): OutboundMessage[] {
    return this.recorder
      .on<EsipaOutboundRecord>(TOPICS.esipaOutbound.name, (r) => r.meterId === meterId)
      .map((r) => r.message);
  }

  swapRecords(meterId: string): ProfileSwapRecord[] {
    return this.recorder.on<ProfileSwapRecord>(
      TOPICS.profileSwaps.name,
      (r) => r.meterId === meterId,
    );
  }

  /** The eIM packages sent to a meter, decoded (the meter side verifies nothing here). */
  /**
   * An operator's swap of the meter to carrier b through the API (accepted: 202), and the enable
   * package it sends the meter.
   */
  async operatorSwap(meterId: string): Promise<{ swapId: string; pkg: EimPackagePayload }> {
    const { status, body } = await this.api(
      'POST',
      `/v1/meters/${meterId}/swaps`,
      { targetCarrierId: this.carriers.b },
      'operator',
    );
    if (status !== 202)
      throw new Error(`swap of ${meterId} refused: ${status} ${JSON.stringify(body)}`);
    const pkg = await eventually(() => this.packages(meterId)[0], { what: 'the enable package' });
    return { swapId: String(body.swapId), pkg };
  }

  packages(meterId: string): EimPackagePayload[] {
    return this.outbound(meterId)
      .filter((m): m is Extract<OutboundMessage, { type: 'eimPackage' }> => m.type === 'eimPackage')
      .map(
        (m) =>
          JSON.parse(
            Buffer.from(m.jws.split('.')[1]!, 'base64url').toString(),
          ) as EimPackagePayload,
      );
  }

  /** The meter's signed result of a package. */
  async result(
    meter: TestMeter,
    pkg: EimPackagePayload,
    seqNumber: number,
    outcome: { code?: 'ok' | 'catBusy'; rolledBack?: boolean; signWith?: TestMeter } = {},
  ): Promise<void> {
    const psmo = pkg.psmoList[0]!;
    const payload = {
      eid: meter.line.eid,
      eimTransactionId: pkg.eimTransactionId,
      counterValue: pkg.counterValue,
      seqNumber,
      results: [
        {
          op: psmo.op,
          ...('iccid' in psmo ? { iccid: psmo.iccid } : {}),
          code: outcome.code ?? 'ok',
        },
      ],
      rolledBack: outcome.rolledBack ?? false,
    };
    // A forgery names the meter (kid) but is signed with another key.
    const jws = outcome.signWith
      ? signCompact(payload, privateKeyFromJwk(outcome.signWith.privateJwk), meter.line.meterId)
      : meter.sign(payload);
    await this.esipa(meter, { type: 'eimPackageResult', jws });
  }

  acknowledged(meterId: string): number[] {
    return this.outbound(meterId).flatMap((m) =>
      m.type === 'eimAcknowledgements' ? m.seqNumbers : [],
    );
  }
}
