import cluster, { type Worker } from 'node:cluster';
import type { ChildProcess } from 'node:child_process';
import { type ImapConfig, type Logger, type Running } from '@mailyard/core';
import { stopChild, supervise, waitForReady, type Supervised } from '@mailyard/core/local';
import { createLocalSlots, type ConnectionSlots, type SlotKind } from './connection-slots.js';

/**
 * IMAP_PROCESSES > 1: this process is a node:cluster primary that serves no client itself. It forks
 * that many processes from its own entry (main.js, or `npm start`'s child.js); each listens on
 * IMAP_PORT and IMAPS_PORT, which they share. The primary accepts each connection and hands it to
 * the processes in turn (node's round-robin, SCHED_RR). Unlike SMTP (stack/src/service-process.ts,
 * SCHED_NONE), an IMAP connection lives for minutes to days, so one handle passed over IPC per
 * connection costs next to nothing, and the spread is even whatever the kernel wakes (with SCHED_NONE a
 * probe of 16 connections to two idle processes split them 8/8 once and 11/5 once).
 * - The connection caps hold for the whole service: the primary counts the slots (connection-slots.ts)
 *   and each process asks it over the cluster IPC channel, one round trip at connect and one at
 *   sign-in; the primary remembers each process's slots and frees them when it exits.
 * - Each process is supervised (core's `supervise`: restarted with backoff, an exit with code 0 is a
 *   deliberate stop). SIGTERM to the primary is passed to every process (they drain), and the
 *   primary exits once they are gone.
 * - Probes and metrics (WORKER_HEALTH_PORT) are per process: process i (1…n) binds
 *   WORKER_HEALTH_PORT + i - 1 (0: each a free port of its own), one scrape target per process.
 */

/** Marks a process forked by startImapPrimary (the same entry must know it is one of the processes). */
const WORKER_ENV = 'MAILYARD_IMAP_PROCESS';
/** How long a process may take to start, and to drain on SIGTERM. */
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

type ToPrimary = { imapSlot: 'acquire'; id: number; kind: SlotKind; key: string } | { imapSlot: 'release'; kind: SlotKind; key: string } | { imapSlot: 'ready'; ports: ReadyPorts };
type ToWorker = { imapSlot: 'result'; id: number; ok: boolean };
interface ReadyPorts {
  port: number;
  imapsPort: number;
  healthPort: number | undefined;
}

function isToPrimary(message: unknown): message is ToPrimary {
  return typeof message === 'object' && message !== null && 'imapSlot' in message;
}

/** What this process is: one of the processes of a cluster, its primary, or the only one. */
export function imapRole(config: ImapConfig): 'worker' | 'primary' | 'single' {
  if (cluster.isWorker && process.env[WORKER_ENV] === '1') return 'worker';
  return config.IMAP_PROCESSES > 1 ? 'primary' : 'single';
}

/** In a process of the cluster: slots taken from the primary over IPC (refused if it is gone). */
export function workerSlots(): ConnectionSlots {
  let nextId = 0;
  const pending = new Map<number, (ok: boolean) => void>();
  process.on('message', (message: unknown) => {
    const reply = message as Partial<ToWorker>;
    if (reply?.imapSlot !== 'result' || typeof reply.id !== 'number') return;
    pending.get(reply.id)?.(reply.ok === true);
    pending.delete(reply.id);
  });
  process.once('disconnect', () => {
    for (const resolve of pending.values()) resolve(false);
    pending.clear();
  });
  const send = (message: ToPrimary) => process.connected && process.send?.(message);
  return {
    acquire(kind, key) {
      if (!process.connected) return false;
      const id = ++nextId;
      return new Promise<boolean>((resolve) => {
        pending.set(id, resolve);
        send({ imapSlot: 'acquire', id, kind, key });
      });
    },
    release(kind, key) {
      send({ imapSlot: 'release', kind, key });
    },
  };
}

/** In a process of the cluster: tells the primary it listens, and on which ports. */
export function reportWorkerReady(ports: ReadyPorts): void {
  process.send?.({ imapSlot: 'ready', ports: { port: ports.port, imapsPort: ports.imapsPort, healthPort: ports.healthPort } } satisfies ToPrimary);
}

/** Forks IMAP_PROCESSES processes and resolves once all listen, with the first one's ports. */
export async function startImapPrimary(config: ImapConfig, log: Logger): Promise<Running & ReadyPorts> {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const slots = createLocalSlots({ ip: config.IMAP_MAX_CONNECTIONS_PER_IP, user: config.IMAP_MAX_CONNECTIONS_PER_USER });
  /** The slots each live process holds ("kind key" → count), freed when it exits. */
  const held = new Map<Worker, Map<string, number>>();

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isToPrimary(message) || message.imapSlot === 'ready') return;
    const mine = held.get(worker);
    if (!mine) return;
    const entry = `${message.kind} ${message.key}`;
    if (message.imapSlot === 'release') {
      const n = mine.get(entry) ?? 0;
      if (n === 0) return; // not one it holds
      slots.release(message.kind, message.key);
      if (n === 1) mine.delete(entry);
      else mine.set(entry, n - 1);
      return;
    }
    const ok = slots.acquire(message.kind, message.key);
    if (ok) mine.set(entry, (mine.get(entry) ?? 0) + 1);
    if (worker.isConnected()) worker.send({ imapSlot: 'result', id: message.id, ok } satisfies ToWorker);
  };

  const healthPort = (index: number) => (config.WORKER_HEALTH_PORT === undefined ? {} : { WORKER_HEALTH_PORT: String(config.WORKER_HEALTH_PORT === 0 ? 0 : config.WORKER_HEALTH_PORT + index - 1) });

  /** Forks process `index` and resolves once it listens; one that fails or hangs is stopped first. */
  const launch = async (index: number): Promise<{ child: ChildProcess; ports: ReadyPorts }> => {
    const worker = cluster.fork({ [WORKER_ENV]: '1', ...healthPort(index) });
    held.set(worker, new Map());
    worker.on('message', (message: unknown) => onMessage(worker, message));
    worker.once('exit', () => {
      for (const [entry, n] of held.get(worker) ?? []) {
        const [kind, key] = [entry.slice(0, entry.indexOf(' ')) as SlotKind, entry.slice(entry.indexOf(' ') + 1)];
        for (let i = 0; i < n; i++) slots.release(kind, key);
      }
      held.delete(worker);
    });
    try {
      const ports = await waitForReady<ReadyPorts>(worker, (m) => (isToPrimary(m) && m.imapSlot === 'ready' ? { ready: m.ports } : undefined), {
        name: `imap-server#${index}`,
        timeoutMs: READY_TIMEOUT_MS,
      });
      return { child: worker.process, ports };
    } catch (err) {
      await stopChild(worker.process, 'SIGTERM', STOP_TIMEOUT_MS);
      throw err;
    }
  };

  const started = await Promise.allSettled(Array.from({ length: config.IMAP_PROCESSES }, (_, i) => launch(i + 1)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? stopChild(r.value.child, 'SIGTERM', STOP_TIMEOUT_MS) : undefined)));
    throw failed.reason;
  }
  const first = started.map((r) => (r as PromiseFulfilledResult<{ child: ChildProcess; ports: ReadyPorts }>).value);
  const supervised: Supervised[] = first.map(({ child }, i) =>
    supervise(child, async () => (await launch(i + 1)).child, (c) => stopChild(c, 'SIGTERM', STOP_TIMEOUT_MS), { name: `imap-server#${i + 1}`, log }),
  );
  log.info({ event: 'imap.cluster_started', processes: config.IMAP_PROCESSES, pids: first.map((p) => p.child.pid), port: first[0]!.ports.port, imapsPort: first[0]!.ports.imapsPort });
  let stopping: Promise<void> | undefined;
  return {
    ...first[0]!.ports,
    stop: () => (stopping ??= Promise.all(supervised.map((s) => s.stop())).then(() => undefined)),
  };
}
