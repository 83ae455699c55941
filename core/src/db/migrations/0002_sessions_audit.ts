import { sql, type Kysely } from 'kysely';

/** Web sessions, app passwords, TOTP, domain administrators and the audit log. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users
      ADD COLUMN totp_secret text,
      ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false,
      ADD COLUMN quota_bytes bigint;

    -- A domain-admin administers the domains listed here for them.
    CREATE TABLE domain_admins (
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
      PRIMARY KEY (user_id, domain_id)
    );

    -- Opaque session tokens: only their SHA-256 is stored, so a database leak yields no session.
    CREATE TABLE sessions (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      token_hash bytea NOT NULL UNIQUE,
      csrf_token text NOT NULL,
      mfa_pending boolean NOT NULL DEFAULT false,
      ip text,
      user_agent text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);

    CREATE TABLE app_passwords (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      name text NOT NULL,
      password_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      UNIQUE (user_id, name)
    );

    -- Security events. No foreign keys: the record outlives the users it names.
    CREATE TABLE audit_log (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      actor_user_id bigint,
      actor_address text,
      action text NOT NULL,
      target text,
      ip text,
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
  `.execute(db);
}
