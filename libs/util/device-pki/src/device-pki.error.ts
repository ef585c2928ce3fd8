/** Why a certificate request or a CA was refused; transports map each code in one switch. */
export type DevicePkiErrorCode =
  | 'csr_malformed'
  | 'csr_bad_signature'
  | 'csr_unsupported_key'
  | 'csr_subject_mismatch'
  | 'ca_invalid';

export class DevicePkiError extends Error {
  constructor(
    readonly code: DevicePkiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DevicePkiError';
  }
}
