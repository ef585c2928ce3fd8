import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates environment variables into a typed object at boot. Schema keys are the variable
 * names, so every problem names the variable that caused it.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const variable = issue.path.join('.') || '(environment)';
    const value = issue.path.length > 0 ? env[String(issue.path[0])] : undefined;
    const shown = value === undefined ? 'unset' : 'set but invalid';
    return `${variable} (${shown}): ${issue.message}`;
  });
  throw new ConfigError(problems);
}

/** Reusable variable types: environment values are strings, these coerce and check them. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback),
  int: (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback),
  url: () => z.string().url(),
  postgresUrl: () => z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  csv: () =>
    z
      .string()
      .min(1)
      .transform((s) =>
        s
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
      ),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  secret: () => z.string().min(8, 'must be at least 8 characters'),
  /** Operator API tokens: `token:role` pairs, comma-separated; roles viewer, operator, admin. */
  apiTokens: () =>
    env
      .csv()
      .pipe(
        z
          .array(
            z
              .string()
              .regex(
                /^[^:]{16,}:(viewer|operator|admin)$/,
                'each entry must be <token of 16+ chars>:<viewer|operator|admin>',
              ),
          )
          .min(1),
      ),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
};

/** Variables every service shares. */
export const baseConfigShape = {
  LOG_LEVEL: env.logLevel(),
  HTTP_PORT: env.port(3000),
  KAFKA_BROKERS: env.csv(),
  KAFKA_CLIENT_ID: z.string().min(1).optional(),
  SHUTDOWN_TIMEOUT_MS: env.int(15_000, 100),
};

export * from './cli';
