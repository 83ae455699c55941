import { SMTPServer } from 'smtp-server';
import type { Db, Logger } from '@mailyard/core';
import { createMxHandlers, type MxLimits } from './handlers/mx-session.handlers.js';
import { useOwnEnhancedStatusCodes } from './protocol/enhanced-status.js';
import { useConfigurableGreetingDelay } from './protocol/greeting-delay.js';
import { SpoolWriter } from './spool/spool-writer.js';

export interface SmtpAppDeps {
  db: Db;
  enqueueInbound(spoolIds: number[]): Promise<void>;
  log: Logger;
}

export interface SmtpAppOptions {
  hostname: string;
  tls: { key: Buffer; cert: Buffer };
  limits: MxLimits;
  socketTimeoutMs?: number;
  /** Pause before the 220 greeting; 0 greets at once. */
  greetingDelayMs?: number;
}

export interface SmtpApp {
  mx: SMTPServer;
  spool: SpoolWriter;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/** Builds the MX listener without listening (tests call this directly). */
export function buildSmtpApp(deps: SmtpAppDeps, options: SmtpAppOptions): SmtpApp {
  useOwnEnhancedStatusCodes();
  useConfigurableGreetingDelay();
  let shuttingDown = false;
  const spool = new SpoolWriter({ db: deps.db, enqueue: deps.enqueueInbound, log: deps.log });
  const handlers = createMxHandlers({ db: deps.db, spool, log: deps.log, hostname: options.hostname, limits: options.limits, isShuttingDown: () => shuttingDown });

  const mx = new SMTPServer({
    name: options.hostname,
    banner: 'Mailyard', // the library writes `220 <name> ESMTP <banner>`
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.limits.maxMessageSize,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideENHANCEDSTATUSCODES: false,
    // The client's reverse DNS name is not used by any check yet; looking it up only adds latency.
    disableReverseLookup: true,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    closeTimeout: 5_000,
    logger: false,
    ...handlers,
    // read by protocol/greeting-delay.ts (not an option of the library itself)
    ...({ greetingDelayMs: options.greetingDelayMs ?? 0 } as object),
  });
  mx.on('error', (err) => deps.log.warn({ event: 'smtp.server.error', err: err.message }));

  return {
    mx,
    spool,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        mx.server.once('error', reject);
        mx.listen(port, host, () => {
          mx.server.off('error', reject);
          const address = mx.server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      });
    },
    async close() {
      shuttingDown = true;
      // Stop accepting, let sessions in DATA finish, then flush what is being committed.
      await new Promise<void>((resolve) => mx.close(() => resolve()));
      await spool.drain();
    },
  };
}
