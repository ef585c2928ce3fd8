import { createPublicKey } from 'node:crypto';
import { z } from 'zod';

/** device-interface §1: client id = username = meterId. */
export const METER_ID_PATTERN = /^[A-Za-z0-9._-]{3,64}$/;
export const meterIdSchema = z
  .string()
  .regex(METER_ID_PATTERN, 'meterId must match ^[A-Za-z0-9._-]{3,64}$');
export type MeterId = z.infer<typeof meterIdSchema>;

/** ITU-T E.118 ICCIDs are 18 to 22 digits; some eUICCs pad with a trailing F. */
export const iccidSchema = z.string().regex(/^[0-9]{18,22}F?$/, 'iccid must be 18 to 22 digits');
/** GSMA SGP.02 EID: 32 decimal digits. */
export const eidSchema = z.string().regex(/^[0-9]{32}$/, 'eid must be 32 digits');
/** MCC (3 digits) + MNC (2 or 3 digits). */
export const plmnSchema = z.string().regex(/^[0-9]{5,6}$/, 'plmn must be MCC+MNC, 5 or 6 digits');
export const carrierIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'carrierId must be lower-case kebab');
export const regionSchema = z.string().min(1).max(64);
export const isoDateTimeSchema = z.iso.datetime({ offset: true });
export const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const meterKindSchema = z.enum(['electricity', 'gas', 'water']);
export type MeterKind = z.infer<typeof meterKindSchema>;
export const registerSchema = z.enum(['energy_import_wh', 'energy_export_wh', 'volume_l']);
export type Register = z.infer<typeof registerSchema>;
export const ratSchema = z.enum(['nbiot', 'ltem', 'lte', 'gsm']);
export type Rat = z.infer<typeof ratSchema>;

/** Which registers each meter kind may report (device-interface §2). */
export const REGISTERS_BY_KIND: Readonly<Record<MeterKind, readonly Register[]>> = {
  electricity: ['energy_import_wh', 'energy_export_wh'],
  gas: ['volume_l'],
  water: ['volume_l'],
};

/** P-256 public key as a JWK, the only device key type the interface allows (ES256). */
export const ecPublicJwkSchema = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string().min(1),
    y: z.string().min(1),
    kid: z.string().optional(),
  })
  .refine(
    (jwk) => {
      // A key that is not a point on P-256 could never verify anything: refuse it at the door.
      try {
        createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid P-256 public key' },
  );
export type EcPublicJwk = z.infer<typeof ecPublicJwkSchema>;
