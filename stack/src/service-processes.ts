import path from 'node:path';
import { ConfigError, type Logger, type StackConfig } from '@mailyard/core';
import { startServiceProcess, type ServiceProcess, type ServiceProcessSpec } from './service-process.js';

/**
 * Every service of `npm start` in its own child process: the inbound and outbound workers, the IMAP
 * server, SMTP_PROCESSES SMTP servers sharing the SMTP ports (node:cluster), and the backend. They
 * start at once (the parent ran the migrations before); when one fails to start, the others are
 * stopped (those still starting at once) and its error is thrown. With WORKER_HEALTH_PORT, each
 * process but the backend (whose probes are on its HTTP port) gets its own probe and metrics port:
 * WORKER_HEALTH_PORT plus its place in that list, so one scrape target per process.
 */

export interface ServiceProcesses {
  smtp: Record<string, number>;
  imap: Record<string, number>;
  backend: Record<string, number>;
  /** The probe and metrics port of each process that has one (WORKER_HEALTH_PORT), in order. */
  probes: Array<{ name: string; port: number }>;
  stop(): Promise<void>;
}

/**
 * `env` is what every child gets on top of this process's environment: DATABASE_URL, and REDIS_URL
 * when this process runs the private Redis (otherwise the children read the configured Redis,
 * REDIS_URL or REDIS_SENTINELS, as every service does).
 */
export async function startServiceProcesses(config: StackConfig, env: Record<string, string>, log: Logger): Promise<ServiceProcesses> {
  const specs = serviceSpecs(config, env);
  // The first failure abandons the starts still under way, so that it is reported without waiting for them.
  const failure = new AbortController();
  let firstError: unknown;
  const results = await Promise.allSettled(
    specs.map((spec) =>
      startServiceProcess(spec, log.child({ service: spec.name }), failure.signal).catch((err: unknown) => {
        if (!failure.signal.aborted) {
          firstError = err;
          failure.abort();
        }
        throw err;
      }),
    ),
  );
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
  };
  if (failure.signal.aborted) {
    await stop();
    throw firstError;
  }
  const portsOf = (service: string) => (started[specs.findIndex((s) => s.service === service)] as ServiceProcess).ports;
  const probes = started.flatMap((p, i) => (p.ports.healthPort === undefined ? [] : [{ name: specs[i]!.name, port: p.ports.healthPort }]));
  return { smtp: portsOf('smtp-server'), imap: portsOf('imap-server'), backend: portsOf('backend'), probes, stop };
}

/** The child processes, in order, each with its environment: `env`, its own settings, its probe port. */
export function serviceSpecs(config: StackConfig, env: Record<string, string>): ServiceProcessSpec[] {
  const smtpCount = config.SMTP_PROCESSES;
  const probed: ServiceProcessSpec[] = [
    { service: 'inbound-worker', name: 'inbound-worker', env, clustered: false },
    { service: 'outbound-worker', name: 'outbound-worker', env, clustered: false },
    { service: 'imap-server', name: 'imap-server', env, clustered: false },
    ...Array.from({ length: smtpCount }, (_, i): ServiceProcessSpec => ({
      service: 'smtp-server',
      name: smtpCount === 1 ? 'smtp-server' : `smtp-server#${i + 1}`,
      env: { ...env, ...smtpProcessEnv(config, smtpCount, i + 1) },
      // One process listens itself; several share the sockets through this process.
      clustered: smtpCount > 1,
    })),
  ];
  const base = config.WORKER_HEALTH_PORT;
  // The IMAP server's IMAP_PROCESSES processes take the ports from its own on (imap-server/src/cluster.ts).
  const offsets = probed.map((_, i) => probed.slice(0, i).reduce((n, spec) => n + (spec.service === 'imap-server' ? config.IMAP_PROCESSES : 1), 0));
  const used = offsets.at(-1)! + 1;
  if (base !== undefined && base > 0 && base + used - 1 > 65535) {
    throw new ConfigError([`WORKER_HEALTH_PORT: npm start uses ${used} ports from it (one per process): at most ${65536 - used}`]);
  }
  // 0 stays 0: each process binds a free port of its own (health-server.ts listens exclusively).
  const withProbe = probed.map((spec, i) => (base === undefined ? spec : { ...spec, env: { ...spec.env, WORKER_HEALTH_PORT: String(base === 0 ? 0 : base + offsets[i]!) } }));
  return [...withProbe, { service: 'backend', name: 'backend', env, clustered: false }];
}

/**
 * The settings of SMTP process `index` (1…count) of `count`. Its per-IP and per-listener limits are
 * counted in its own memory, so each gets its share, rounded up: together they allow at most
 * `count - 1` more than the setting, and a client whose connections are spread unevenly is limited
 * a little sooner. Its DATA spill folder is its own (each empties its folder at start).
 */
export function smtpProcessEnv(config: StackConfig, count: number, index: number): Record<string, string> {
  if (count === 1) return {};
  const share = (limit: number) => String(Math.ceil(limit / count));
  return {
    SMTP_MAX_CONNECTIONS_PER_IP: share(config.SMTP_MAX_CONNECTIONS_PER_IP),
    SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: share(config.SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE),
    SMTP_MAX_CLIENTS: share(config.SMTP_MAX_CLIENTS),
    SMTP_MAX_DATA_PER_IP: share(config.SMTP_MAX_DATA_PER_IP),
    SMTP_SPILL_DIR: path.join(config.SMTP_SPILL_DIR ?? path.join(config.DATA_DIR, 'spool-temp'), String(index)),
  };
}
