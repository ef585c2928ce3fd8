import { connectMqtt, type MqttClient } from '@meterlink/mqtt';
import { createLogger } from '@meterlink/observability';
import { TransientError } from '@meterlink/kafka';

const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;

export type DynsecCommand = Record<string, unknown> & { command: string };
export interface DynsecResponse {
  command: string;
  error?: string;
}

/**
 * Mosquitto's dynamic security plugin, driven over MQTT as its admin client: the broker keeps the
 * only password verifier (PBKDF2), so the platform never stores a meter's clear-text password.
 * Commands go in batches; the broker answers a batch with one message, in order.
 */
export class DynsecClient {
  private client: MqttClient | undefined;
  private waiting: ((responses: DynsecResponse[]) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log = createLogger('DynsecClient');

  constructor(
    private readonly options: { url: string; username: string; password: string; clientId: string },
  ) {}

  async connect(): Promise<void> {
    this.client = await connectMqtt({ ...this.options, clean: true });
    this.client.on('message', (topic, payload) => {
      if (topic !== RESPONSE_TOPIC) return;
      const waiter = this.waiting;
      this.waiting = undefined;
      try {
        const parsed = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
        waiter?.(parsed.responses ?? []);
      } catch (error) {
        this.log.error({ err: error }, 'unreadable dynsec response');
        waiter?.([]);
      }
    });
    await this.client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
  }

  isConnected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Sends commands (one broker round trip per 100) and returns one response per command. */
  async execute(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const responses: DynsecResponse[] = [];
    for (let i = 0; i < commands.length; i += 100) {
      responses.push(...(await this.send(commands.slice(i, i + 100))));
    }
    return responses;
  }

  private send(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const run = async (): Promise<DynsecResponse[]> => {
      const client = this.client;
      if (!client?.connected) throw new TransientError('broker admin connection is down');
      const answer = new Promise<DynsecResponse[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = undefined;
          reject(new TransientError('dynsec did not answer within 10 s'));
        }, 10_000);
        this.waiting = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      });
      await client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands }), { qos: 1 });
      return answer;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
  }
}
