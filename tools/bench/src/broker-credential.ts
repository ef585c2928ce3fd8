import { randomBytes, randomUUID } from 'node:crypto';
import mqtt from 'mqtt';

const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;

/** The bench's load-generator identity: exists only in the bench stack (`.bench-stack/`). */
export const BENCH_CLIENT = 'bench-loadgen';

export interface BenchCredential {
  username: string;
  password: string;
}

interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
}

/**
 * Creates (again) the bench's concentrator-like client: one credential, used by every
 * load-generator connection (client ids `bench-loadgen-<n>`), that may publish any meter's
 * uplink — what no real client may do, since each meter's ACL covers its own topic only — and
 * the `bench/#` topics of the baseline bridge. A fresh password each run: nothing to keep.
 */
export async function provisionBenchClient(options: {
  mqttUrl: string;
  adminUsername: string;
  adminPassword: string;
}): Promise<BenchCredential> {
  const credential = { username: BENCH_CLIENT, password: randomBytes(24).toString('base64url') };
  const grant = (acltype: string, topic: string): Record<string, unknown> => ({
    acltype,
    topic,
    priority: 0,
    allow: true,
  });
  const client = await mqtt.connectAsync(options.mqttUrl, {
    clientId: `bench-admin-${process.pid}`,
    username: options.adminUsername,
    password: options.adminPassword,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  try {
    // Every admin client shares the response topic: match ours by correlationData.
    const waiting = new Map<string, (responses: DynsecResponse[]) => void>();
    client.on('message', (topic, payload) => {
      if (topic !== RESPONSE_TOPIC) return;
      const { responses = [] } = JSON.parse(payload.toString('utf8')) as {
        responses?: DynsecResponse[];
      };
      const id = responses.find((r) => r.correlationData)?.correlationData;
      const resolve = id === undefined ? undefined : waiting.get(id);
      if (resolve) {
        waiting.delete(id!);
        resolve(responses);
      }
    });
    await client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
    const send = async (commands: Record<string, unknown>[]): Promise<DynsecResponse[]> => {
      const id = randomUUID();
      const last = commands.length - 1;
      const tagged = commands.map((c, i) => (i === last ? { ...c, correlationData: id } : c));
      const answer = new Promise<DynsecResponse[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('dynsec did not answer within 10 s'));
        }, 10_000);
        waiting.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
      await client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 });
      return answer;
    };
    // Start from nothing, so the role has exactly the ACLs below.
    const removed = await send([
      { command: 'deleteClient', username: BENCH_CLIENT },
      { command: 'deleteRole', rolename: BENCH_CLIENT },
    ]);
    const unexpected = removed.filter((r) => r.error && !/not found/i.test(r.error));
    if (unexpected.length > 0)
      throw new Error(`dynsec: ${unexpected.map((r) => r.error).join('; ')}`);
    const created = await send([
      {
        command: 'createRole',
        rolename: BENCH_CLIENT,
        textname: 'meterlink bench load generator (bench stack only)',
        acls: [
          grant('publishClientSend', 'mtr/v1/+/up/#'),
          grant('publishClientSend', 'bench/#'),
          grant('subscribePattern', 'bench/#'),
          grant('unsubscribePattern', 'bench/#'),
          grant('publishClientReceive', 'bench/#'),
        ],
      },
      {
        command: 'createClient',
        username: credential.username,
        password: credential.password,
        textname: 'meterlink bench load generator (bench stack only)',
        roles: [{ rolename: BENCH_CLIENT, priority: 0 }],
      },
    ]);
    const failed = created.filter((r) => r.error);
    if (failed.length > 0) throw new Error(`dynsec: ${failed.map((r) => r.error).join('; ')}`);
    return credential;
  } finally {
    await client.endAsync();
  }
}
