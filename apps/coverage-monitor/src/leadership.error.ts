/** Why a replica may not run; transports (here only the process exit) map each code. */
export type LeadershipErrorCode = 'replica_id_in_use';

export class LeadershipError extends Error {
  constructor(
    readonly code: LeadershipErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LeadershipError';
  }
}
