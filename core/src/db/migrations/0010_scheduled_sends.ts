import { sql, type Kysely } from 'kysely';

/**
 * Undo send and scheduled send (core/src/mail/scheduled-send.ts). `scheduled_sends` is one message
 * a user sent through the API, held until `send_at`: its MIME, built when it was scheduled (so
 * uploads swept meanwhile do not matter), in `blobs`; the recipients to route when it goes; the
 * fields as composed (`input`), so a cancelled send reopens in the compose window; and its status.
 * A BullMQ delayed job wakes the outbound worker at `send_at`; the row is the truth (a reconcile
 * pass sends due rows whose job was lost). `users.undo_send_seconds` is how long the API holds a
 * message the user sends now (0 sends at once).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users ADD COLUMN undo_send_seconds integer NOT NULL DEFAULT 10 CHECK (undo_send_seconds BETWEEN 0 AND 30);

    CREATE TABLE scheduled_sends (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      blob_hash bytea NOT NULL REFERENCES blobs(hash),
      input jsonb NOT NULL,
      recipients text[] NOT NULL,
      mail_from text NOT NULL,
      dkim_domain text,
      draft_id bigint,
      send_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled', 'failed')),
      error text,
      sent_message_id bigint REFERENCES messages(id) ON DELETE SET NULL,
      outbound_id bigint REFERENCES outbound_messages(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX scheduled_sends_due ON scheduled_sends (send_at) WHERE status = 'pending';
    CREATE INDEX scheduled_sends_user ON scheduled_sends (user_id, send_at) WHERE status = 'pending';
  `.execute(db);
}
