import { sql, type Kysely } from 'kysely';

/**
 * The foundation schema. Plain SQL that runs on PostgreSQL 15 and 18 alike
 * (no uuidv7(), no virtual generated columns).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE domains (
      id bigserial PRIMARY KEY,
      name text NOT NULL UNIQUE CHECK (name = lower(name)),
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE users (
      id bigserial PRIMARY KEY,
      domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
      address text NOT NULL UNIQUE CHECK (address = lower(address)),
      password_hash text NOT NULL,
      role text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'domain-admin', 'user')),
      display_name text,
      disabled boolean NOT NULL DEFAULT false,
      modseq bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX users_domain ON users (domain_id);

    CREATE TABLE aliases (
      id bigserial PRIMARY KEY,
      domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
      address text NOT NULL UNIQUE CHECK (address = lower(address)),
      target_user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX aliases_target ON aliases (target_user_id);

    CREATE TABLE mailboxes (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      name text NOT NULL,
      special_use text CHECK (special_use IN ('\\Inbox', '\\Sent', '\\Drafts', '\\Archive', '\\Junk', '\\Trash')),
      uidvalidity bigint NOT NULL,
      uidnext bigint NOT NULL DEFAULT 1,
      highestmodseq bigint NOT NULL DEFAULT 0,
      message_count integer NOT NULL DEFAULT 0,
      unseen_count integer NOT NULL DEFAULT 0,
      total_bytes bigint NOT NULL DEFAULT 0,
      subscribed boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, name)
    );
    CREATE UNIQUE INDEX mailboxes_special_use ON mailboxes (user_id, special_use) WHERE special_use IS NOT NULL;

    -- Raw RFC 5322 bytes, stored once, addressed by SHA-256.
    CREATE TABLE blobs (
      hash bytea PRIMARY KEY,
      size integer NOT NULL,
      data bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    -- Every message accepted over SMTP, committed before the client hears 250.
    CREATE TABLE spool (
      id bigserial PRIMARY KEY,
      blob_hash bytea NOT NULL REFERENCES blobs(hash),
      mail_from text NOT NULL,
      rcpt_to text[] NOT NULL,
      remote_ip text,
      helo text,
      tls boolean NOT NULL DEFAULT false,
      trace_headers text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      error text,
      received_at timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz
    );
    CREATE INDEX spool_pending ON spool (received_at) WHERE status = 'pending';

    CREATE SEQUENCE thread_ids;

    CREATE TABLE messages (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
      uid bigint NOT NULL,
      modseq bigint NOT NULL,
      flags text[] NOT NULL DEFAULT '{}',
      internal_date timestamptz NOT NULL,
      size integer NOT NULL,
      blob_hash bytea NOT NULL REFERENCES blobs(hash),
      trace_headers text NOT NULL DEFAULT '',
      thread_id bigint NOT NULL,
      message_id_header text,
      in_reply_to text,
      "references" text[] NOT NULL DEFAULT '{}',
      subject text NOT NULL DEFAULT '',
      normalized_subject text NOT NULL DEFAULT '',
      from_json jsonb NOT NULL DEFAULT '[]',
      to_json jsonb NOT NULL DEFAULT '[]',
      cc_json jsonb NOT NULL DEFAULT '[]',
      from_text text NOT NULL DEFAULT '',
      to_text text NOT NULL DEFAULT '',
      cc_text text NOT NULL DEFAULT '',
      sent_date timestamptz,
      snippet text NOT NULL DEFAULT '',
      body_text text NOT NULL DEFAULT '',
      has_attachments boolean NOT NULL DEFAULT false,
      attachments jsonb NOT NULL DEFAULT '[]',
      attachment_names text NOT NULL DEFAULT '',
      spool_id bigint REFERENCES spool(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', subject), 'A') ||
        setweight(to_tsvector('simple', from_text || ' ' || to_text || ' ' || cc_text), 'B') ||
        setweight(to_tsvector('simple', attachment_names), 'B') ||
        setweight(to_tsvector('simple', left(body_text, 200000)), 'C')
      ) STORED,
      UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX messages_mailbox_date ON messages (mailbox_id, internal_date DESC, id DESC);
    CREATE INDEX messages_user_thread ON messages (user_id, thread_id);
    CREATE INDEX messages_user_message_id ON messages (user_id, message_id_header);
    CREATE INDEX messages_user_subject ON messages (user_id, normalized_subject, internal_date DESC);
    CREATE INDEX messages_references ON messages USING gin ("references");
    CREATE INDEX messages_search ON messages USING gin (search);

    -- Idempotency of delivery: one filing per accepted message per recipient user.
    CREATE TABLE spool_filings (
      spool_id bigint NOT NULL REFERENCES spool(id) ON DELETE CASCADE,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      message_id bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (spool_id, user_id)
    );

    -- Per-user change log, ordered by the user's modseq: SSE replay and IMAP CONDSTORE read it.
    CREATE TABLE changes (
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      modseq bigint NOT NULL,
      kind text NOT NULL,
      mailbox_id bigint,
      message_id bigint,
      uid bigint,
      payload jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, modseq)
    );
  `.execute(db);
}
