import type { SMTPServer, SMTPServerOptions } from 'smtp-server';
import type { MetricsRegistry } from '@mailyard/core';
import type { SmtpListenerObserver } from './protocol/observe.js';

/**
 * The smtp-server's metrics, per listener (mx, submission, smtps): sessions started and open now,
 * every reply by code (protocol/observe.ts counts them where the library writes them), and the
 * messages accepted (a 250 at the end of DATA: the handlers' onData callback without an error).
 * Served on WORKER_HEALTH_PORT's /metrics (start.ts).
 */
export type SmtpListenerName = 'mx' | 'submission' | 'smtps';

type DataHandler = Pick<SMTPServerOptions, 'onData'>;

export interface SmtpMetrics {
  /**
   * The server options that report one listener: the `observer` and the handlers' `onData`
   * wrapped to count the messages it accepts. `server()` (the listener, once built) is read at
   * each scrape for the sessions open now.
   */
  listener(name: SmtpListenerName, handlers: DataHandler, server: () => SMTPServer): DataHandler & { observer: SmtpListenerObserver };
}

export function createSmtpMetrics(registry: MetricsRegistry): SmtpMetrics {
  const sessions = registry.counter('mailyard_smtp_sessions_total', 'SMTP sessions started, by listener (mx, submission, smtps; on 465 after the TLS handshake).', ['listener']);
  const replies = registry.counter('mailyard_smtp_replies_total', 'SMTP replies sent, by listener and reply code (the library’s own replies included).', ['listener', 'code']);
  const accepted = registry.counter('mailyard_smtp_messages_accepted_total', 'Messages accepted (250 at the end of DATA), by listener.', ['listener']);
  const servers = new Map<SmtpListenerName, () => SMTPServer>();
  registry.gaugeFrom('mailyard_smtp_sessions_open', 'SMTP sessions open now, by listener.', () =>
    [...servers].map(([listener, server]) => ({ labels: { listener }, value: server().connections.size })),
  );
  return {
    listener(name, { onData }, server) {
      servers.set(name, server);
      const labels = { listener: name };
      // One label object per reply code, made once (a reply is counted on every command).
      const byCode = new Map<number, { listener: SmtpListenerName; code: string }>();
      const replyLabels = (code: number) => {
        let found = byCode.get(code);
        if (!found) byCode.set(code, (found = { listener: name, code: String(code) }));
        return found;
      };
      sessions.inc(labels, 0);
      accepted.inc(labels, 0);
      return {
        observer: { sessionStarted: () => sessions.inc(labels), reply: (code) => replies.inc(replyLabels(code)) },
        onData:
          onData &&
          ((stream, session, callback) =>
            onData(stream, session, (err, message) => {
              if (!err) accepted.inc(labels);
              callback(err, message);
            })),
      };
    },
  };
}
