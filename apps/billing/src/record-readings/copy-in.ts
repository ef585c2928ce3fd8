import type { PoolClient } from '@meterlink/postgres';

/**
 * `COPY … FROM STDIN` with the whole input in one buffer, on node-postgres's Submittable
 * interface (what pg-copy-streams does, without a stream): resolves with the rows copied once the
 * server is ready again, rejects with the server's error (a DatabaseError with its `code`, the
 * transaction then aborted as after any failed statement) or the connection's. The next query on
 * the client waits for the server as after any other.
 */
export function copyIn(client: PoolClient, sql: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    interface Connection {
      query(text: string): void;
      sendCopyFromChunk(chunk: Buffer): void;
      endCopyFrom(): void;
    }
    const submittable = {
      submit(connection: Connection): void {
        connection.query(sql);
      },
      handleCopyInResponse(connection: Connection): void {
        connection.sendCopyFromChunk(data);
        connection.endCopyFrom();
      },
      handleCommandComplete(msg: { text?: string }): void {
        rows = Number(/\d+$/.exec(msg.text ?? '')?.[0] ?? 0);
      },
      // The client stops treating this as its active query on an error (the ReadyForQuery that
      // follows a server error is not passed on): settled here, the next query waits for it.
      handleError(error: unknown): void {
        reject(error instanceof Error ? error : new Error(String(error)));
      },
      handleReadyForQuery(): void {
        resolve(rows);
      },
      handleRowDescription(): void {},
      handleDataRow(): void {},
      handleEmptyQuery(): void {},
      handlePortalSuspended(): void {},
      handleCopyData(): void {},
    };
    void client.query(submittable as never);
  });
}
