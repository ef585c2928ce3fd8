import { z } from 'zod';
import { ConfigError, baseConfigShape, env, loadConfig } from '@meterlink/config';

export const registryConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3001),
  DATABASE_URL: env.postgresUrl(),
  /**
   * The registry schema's owner, for migrations only; the service then runs as DATABASE_URL's
   * role, which may only append to the audit log and cannot drop its triggers. Unset: migrations
   * run as the service role (which then owns the log; a warning says so at start).
   */
  DATABASE_OWNER_URL: env.postgresUrl().optional(),
  MQTT_URL: z.string().regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL'),
  MQTT_ADMIN_USERNAME: z.string().min(1),
  MQTT_ADMIN_PASSWORD: env.secret(),
  /** Operator API tokens: `token:role` pairs, comma-separated; roles viewer, operator, admin. */
  REGISTRY_API_TOKENS: env.apiTokens(),
  /** Manifest lines stored per transaction (and per fleet-topic and broker batch). */
  IMPORT_BATCH_SIZE: env.int(1000, 1),
  /** Batches of one import in flight at once: parsing, storing, publishing and broker overlap. */
  IMPORT_PIPELINE_DEPTH: env.int(4, 1),
  /** Batches stored in PostgreSQL at once (their transactions overlap; conflicts are retried). */
  IMPORT_STORE_CONCURRENCY: env.int(2, 1),
  /**
   * How meters get their broker credential (docs/architecture.md, "Per-meter broker credentials"):
   * `dynsec`, a dynamic-security client and role per meter (the broker rewrites its whole JSON
   * file on every command, so it slows down with the square of the fleet: thousands of meters);
   * `password-file`, each meter's verifier in PostgreSQL, written to MQTT_PASSWORD_FILE for the
   * broker's password_file, with its acl_file patterns confining each meter to its own topics.
   */
  BROKER_CREDENTIALS: z.enum(['dynsec', 'password-file']).default('dynsec'),
  /** The broker's password_file (password-file mode); rewritten atomically, then SIGHUP. */
  MQTT_PASSWORD_FILE: z.string().min(1).optional(),
  /** How long the broker may take to load a new password file before the write counts as failed. */
  MQTT_PASSWORD_FILE_RELOAD_TIMEOUT_S: env.int(60, 1),
  /** PBKDF2-SHA512 iterations of a meter's verifier: 101, like mosquitto_passwd and dynsec. */
  MQTT_PASSWORD_ITERATIONS: env.int(101, 1),
  /** Control messages to the dynamic-security plugin in flight at once. */
  DYNSEC_MAX_IN_FLIGHT: env.int(4, 1),
  /**
   * The device CA (docs/device-identity.md): a directory with ca.key.pem (mode 600) and
   * ca.cert.pem, created on first start when empty. Unset: no certificates are issued, and the
   * PKI routes answer 503.
   */
  DEVICE_CA_DIR: z.string().min(1).optional(),
  /** Subject CN of a device CA created on first start. */
  DEVICE_CA_NAME: z.string().min(1).default('meterlink device CA'),
  DEVICE_CA_VALIDITY_DAYS: env.int(3650, 1),
  /** Validity of a meter's client certificate. */
  DEVICE_CERT_VALIDITY_DAYS: env.int(365, 1),
  /** Where the broker reads the CRL (crlfile); rewritten atomically on every change. */
  DEVICE_CRL_FILE: z.string().min(1).optional(),
  /** A CRL is valid this long: past its nextUpdate the broker refuses every device certificate. */
  DEVICE_CRL_VALIDITY_HOURS: env.int(168, 1),
  /** The CRL is signed anew this often, so it never comes near its nextUpdate. */
  DEVICE_CRL_REFRESH_S: env.int(3600, 1),
  /**
   * A co-located broker to send SIGHUP after each CRL or password file write (mosquitto re-reads
   * both then).
   */
  MQTT_BROKER_PID_FILE: z.string().min(1).optional(),
});
export type RegistryConfig = z.infer<typeof registryConfigSchema>;
export const loadRegistryConfig = (): RegistryConfig => {
  const config = loadConfig(registryConfigSchema);
  const problems: string[] = [];
  if (config.BROKER_CREDENTIALS === 'password-file' && !config.MQTT_PASSWORD_FILE)
    problems.push('MQTT_PASSWORD_FILE (unset): BROKER_CREDENTIALS=password-file writes it');
  if (config.DEVICE_CRL_FILE && !config.DEVICE_CA_DIR)
    problems.push('DEVICE_CRL_FILE (set): needs DEVICE_CA_DIR, the CA that signs the CRL');
  // Two refreshes fit in a CRL's lifetime, so one failed refresh never lets the broker's expire.
  if (config.DEVICE_CRL_REFRESH_S * 2 > config.DEVICE_CRL_VALIDITY_HOURS * 3600)
    problems.push(
      'DEVICE_CRL_REFRESH_S (set but invalid): must be at most half of DEVICE_CRL_VALIDITY_HOURS',
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
};
