import { sql, type Kysely } from 'kysely';

/**
 * Outbound mail (DESIGN.md "Outbound"). `outbound_messages` is one message a user sent: the bytes
 * (a blob, so the Sent copy can be deleted while delivery goes on), the envelope sender and the
 * domain to DKIM-sign for. `deliveries` is its state per recipient — the truth the outbound
 * worker acts on; the BullMQ job only wakes the worker. `locked_until` is the lease a worker holds
 * while it talks to the remote server: a worker killed mid-delivery lets its lease run out and the
 * recipients are tried again. `delivery_events` is the log the sender reads (queued, each attempt
 * with the remote reply, delivered, deferred, bounced).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE outbound_messages (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      sent_message_id bigint REFERENCES messages(id) ON DELETE SET NULL,
      blob_hash bytea NOT NULL REFERENCES blobs(hash),
      size integer NOT NULL,
      mail_from text NOT NULL,
      message_id_header text,
      subject text NOT NULL DEFAULT '',
      dkim_domain text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbound_messages_user ON outbound_messages (user_id, id DESC);
    CREATE INDEX outbound_messages_sent ON outbound_messages (sent_message_id) WHERE sent_message_id IS NOT NULL;

    CREATE TABLE deliveries (
      id bigserial PRIMARY KEY,
      outbound_id bigint NOT NULL REFERENCES outbound_messages(id) ON DELETE CASCADE,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      recipient text NOT NULL,
      domain text NOT NULL,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'deferred', 'delivered', 'bounced', 'expired')),
      attempts integer NOT NULL DEFAULT 0,
      last_reply text,
      remote_mta text,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz,
      dsn_pending boolean NOT NULL DEFAULT false,
      delay_warned boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (outbound_id, recipient)
    );
    CREATE INDEX deliveries_job ON deliveries (outbound_id, domain);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'deferred');
    CREATE INDEX deliveries_dsn ON deliveries (outbound_id) WHERE dsn_pending;

    CREATE TABLE delivery_events (
      id bigserial PRIMARY KEY,
      delivery_id bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
      status text NOT NULL,
      reply text,
      remote_mta text,
      next_attempt_at timestamptz,
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, id);
  `.execute(db);
}
