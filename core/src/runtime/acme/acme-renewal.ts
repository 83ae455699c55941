import { runAcme, type AcmeDeps, type AcmeSettings } from './acme-issuer.js';

/**
 * The backend's ACME timer: one run at start (once the HTTP listener answers challenges), then one
 * every `checkIntervalMs` (default 12 h). Each run is cheap when the certificate is fresh, and every
 * replica may run it: the Redis lock lets one order at a time. A failed run is logged
 * (`acme.failed`) and tried again at the next check.
 */
export function startAcmeRenewal(deps: AcmeDeps, settings: AcmeSettings & { checkIntervalMs: number }): { stop(): Promise<void> } {
  const log = deps.log.child({ component: 'acme' });
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;

  const check = (): void => {
    inFlight = runAcme({ ...deps, log }, settings)
      .then((outcome) => {
        if (outcome.status === 'issued') log.info({ event: 'acme.issued', names: outcome.names, serial: outcome.serial, validTo: outcome.validTo.toISOString(), reason: outcome.reason });
        else log.debug({ event: `acme.${outcome.status}` });
      })
      .catch((err: unknown) => log.error({ event: 'acme.failed', err: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        if (!stopped) timer = setTimeout(check, settings.checkIntervalMs);
      });
  };
  check();

  return {
    /** Waits for a run in progress (its lock and challenges are cleaned up) and schedules no more. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
