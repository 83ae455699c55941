import { fork, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@mailyard/core';
import { stopChild, supervise, waitForReady } from '@mailyard/core/local';
import { isChildMessage, type ServiceName } from './child-messages.js';

/**
 * Runs one service as a child process of `npm start` (the entry is child.ts): forks it, waits for
 * its 'ready' message, and keeps it running with core's supervisor (a child that dies is started
 * again with backoff and the restart is logged, as for PostgreSQL and Redis; an exit with code 0
 * is a deliberate stop). `stop()` sends SIGTERM (the service drains), then SIGKILL after a deadline.
 * A clustered child is forked with node:cluster: the SMTP processes share their listening
 * sockets and each accepts from them itself (SCHED_NONE).
 */

export interface ServiceProcessSpec {
  service: ServiceName;
  /** Names the process in log lines: `inbound-worker`, `smtp-server#2`. */
  name: string;
  /** Added to this process's environment (DATABASE_URL, REDIS_URL, per-process settings). */
  env: Record<string, string>;
  clustered: boolean;
}

export interface ServiceProcess {
  /** The ports the first process bound (a worker has none). */
  ports: Record<string, number>;
  stop(): Promise<void>;
}

const entry = fileURLToPath(new URL('./child.js', import.meta.url));
/** How long a child may take to start (migrations are already done; a loaded machine is slow). */
const READY_TIMEOUT_MS = 120_000;
/** How long a child may take to drain on SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 20_000;

/** Starts the service's process; `abort` (another one failed to start) stops it before it is ready. */
export async function startServiceProcess(spec: ServiceProcessSpec, log: Logger, abort?: AbortSignal): Promise<ServiceProcess> {
  const first = await launch(spec, abort);
  const supervised = supervise(first.child, async () => (await launch(spec)).child, (child) => stopChild(child, 'SIGTERM', STOP_TIMEOUT_MS), { name: spec.name, log });
  return { ports: first.ports, stop: () => supervised.stop() };
}

/** Forks the child and resolves once it is ready; a child that fails or hangs is stopped first. */
async function launch(spec: ServiceProcessSpec, abort?: AbortSignal): Promise<{ child: ChildProcess; ports: Record<string, number> }> {
  const child = forkChild(spec);
  try {
    const ports = await waitForReady<Record<string, number>>(child, (m) => (!isChildMessage(m) ? undefined : m.type === 'ready' ? { ready: m.ports } : { failed: m.message }), {
      name: spec.name,
      timeoutMs: READY_TIMEOUT_MS,
      abort,
    });
    return { child, ports };
  } catch (err) {
    await stopChild(child, 'SIGTERM', STOP_TIMEOUT_MS);
    throw err;
  }
}

function forkChild(spec: ServiceProcessSpec): ChildProcess {
  if (!spec.clustered) return fork(entry, [spec.service], { env: { ...process.env, ...spec.env } });
  // The processes accept from the shared socket themselves (the kernel spreads the connections):
  // with node's default round-robin, this process accepted each connection and passed it over IPC,
  // which cost more CPU per SMTP connection than the second process saved (bench/README.md, #14).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: entry, args: [spec.service] });
  return cluster.fork(spec.env).process;
}
