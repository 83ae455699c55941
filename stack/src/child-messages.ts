/** What a service child of `npm start` tells the parent over IPC (child.ts sends, service-process.ts reads). */

export const serviceNames = ['inbound-worker', 'outbound-worker', 'smtp-server', 'imap-server', 'backend'] as const;
export type ServiceName = (typeof serviceNames)[number];

export type ChildMessage =
  /** Started: the ports it bound (`port`, `submissionPort`, …; none for a worker). */
  | { type: 'ready'; ports: Record<string, number> }
  /** start() failed (the child exits next). */
  | { type: 'failed'; message: string };

export function isServiceName(value: unknown): value is ServiceName {
  return serviceNames.includes(value as ServiceName);
}

export function isChildMessage(value: unknown): value is ChildMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  if (m.type === 'failed') return typeof m.message === 'string';
  return m.type === 'ready' && typeof m.ports === 'object' && m.ports !== null && Object.values(m.ports).every((p) => typeof p === 'number');
}
