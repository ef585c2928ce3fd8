import { randomUUID } from 'node:crypto';
import { connectMqtt, type MqttClient } from '@meterlink/mqtt';
import { createLogger } from '@meterlink/observability';
import { TransientError } from '@meterlink/kafka';

const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;
/**
 * A control message larger than the broker's message_size_limit (32 KiB in the project's config)
 * is dropped without an answer. 28 KiB leaves room for the envelope; at about 650 bytes per meter
 * that is some 40 meters per message. Larger messages would not help anyway: dynsec saves its
 * whole file after every command, not every message.
 */
export const MAX_MESSAGE_BYTES = 28 * 1024;
export const MAX_MESSAGE_COMMANDS = 200;
const ANSWER_TIMEOUT_MS = 30_000;

export type DynsecCommand = Record<string, unknown> & { command: string };
export interface DynsecResponse {
  command: string;
  error?: string;
  /** What a get/list command answers. */
  data?: unknown;
  correlationData?: string;
}

/** Splits commands into control messages under the size and count limits, keeping their order. */
export function splitIntoMessages(
  commands: DynsecCommand[],
  maxBytes = MAX_MESSAGE_BYTES,
  maxCommands = MAX_MESSAGE_COMMANDS,
): DynsecCommand[][] {
  const envelope = Buffer.byteLength('{"commands":[]}');
  const messages: DynsecCommand[][] = [];
  let current: DynsecCommand[] = [];
  let bytes = envelope;
  for (const command of commands) {
    // The correlation data added on sending and a separating comma.
    const size = Buffer.byteLength(JSON.stringify(command)) + 80;
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxCommands)) {
      messages.push(current);
      current = [];
      bytes = envelope;
    }
    current.push(command);
    bytes += size;
  }
  if (current.length > 0) messages.push(current);
  return messages;
}

interface Waiter {
  resolve: (responses: DynsecResponse[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Mosquitto's dynamic security plugin, driven over MQTT as its admin client. Commands go in
 * control messages of up to ~28 KiB, several in flight at once (DYNSEC_MAX_IN_FLIGHT), each
 * matched to its answer by the correlation data on its first command: every admin client shares
 * the one response topic, so an answer that carries no correlation data of ours is someone else's.
 */
export class DynsecClient {
  private client: MqttClient | undefined;
  private readonly waiting = new Map<string, Waiter>();
  private readonly prefix = randomUUID();
  private sequence = 0;
  private inFlight = 0;
  private readonly slots: (() => void)[] = [];
  private readonly log = createLogger('DynsecClient');

  constructor(
    private readonly options: {
      url: string;
      username: string;
      password: string;
      clientId: string;
      maxInFlight?: number;
    },
  ) {}

  async connect(): Promise<void> {
    const { url, username, password, clientId } = this.options;
    this.client = await connectMqtt({ url, username, password, clientId, clean: true });
    this.client.on('message', (topic, payload) => {
      if (topic !== RESPONSE_TOPIC) return;
      let responses: DynsecResponse[];
      try {
        responses =
          (JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] }).responses ??
          [];
      } catch (error) {
        this.log.error({ err: error }, 'unreadable dynsec response');
        return;
      }
      const id = responses[0]?.correlationData;
      const waiter = id === undefined ? undefined : this.waiting.get(id);
      if (!waiter) return;
      this.waiting.delete(id!);
      clearTimeout(waiter.timer);
      waiter.resolve(responses);
    });
    await this.client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
  }

  isConnected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Runs the commands in order and returns one response per command. */
  async execute(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const answers = await Promise.all(splitIntoMessages(commands).map((m) => this.send(m)));
    return answers.flat();
  }

  private async slot(): Promise<void> {
    const max = this.options.maxInFlight ?? 1;
    if (this.inFlight < max) {
      this.inFlight++;
      return;
    }
    // The finishing message hands its slot over, so inFlight stays counted.
    await new Promise<void>((resolve) => this.slots.push(resolve));
  }

  private release(): void {
    const next = this.slots.shift();
    if (next) next();
    else this.inFlight--;
  }

  private async send(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    await this.slot();
    try {
      const client = this.client;
      if (!client?.connected) throw new TransientError('broker admin connection is down');
      const id = `${this.prefix}:${++this.sequence}`;
      const answer = new Promise<DynsecResponse[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.delete(id);
          reject(new TransientError(`dynsec did not answer within ${ANSWER_TIMEOUT_MS} ms`));
        }, ANSWER_TIMEOUT_MS);
        this.waiting.set(id, { resolve, reject, timer });
      });
      // Handled here too, so a publish failure can't leave the timeout's rejection unhandled.
      answer.catch(() => undefined);
      const [first, ...rest] = commands;
      try {
        await client.publishAsync(
          CONTROL_TOPIC,
          JSON.stringify({ commands: [{ ...first, correlationData: id }, ...rest] }),
          { qos: 1 },
        );
      } catch (error) {
        const waiter = this.waiting.get(id);
        if (waiter) clearTimeout(waiter.timer);
        this.waiting.delete(id);
        throw new TransientError('broker refused the control message', { cause: error });
      }
      return await answer;
    } finally {
      this.release();
    }
  }

  async close(): Promise<void> {
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(new TransientError('broker admin connection closed'));
      this.waiting.delete(id);
    }
    await this.client?.endAsync();
  }
}
