import { sql, type Kysely } from 'kysely';

/**
 * What IMAP keeps beyond the messages.
 *
 * Subscriptions (SUBSCRIBE/UNSUBSCRIBE, LSUB, LIST (SUBSCRIBED)): one row per user and
 * folder name. A name stays subscribed when its folder is deleted (RFC 3501 6.3.6), so rows are
 * keyed by name, not by mailbox id; they replace the unused `mailboxes.subscribed` column (0001),
 * whose values they start from (true for every folder so far). The triggers keep new folders
 * subscribed (a new user's default folders, the webmail's; IMAP CREATE then leaves the choice to
 * its client) and carry a folder's subscription to its new name on a rename.
 *
 * \Recent (RFC 3501 2.3.2): `mailboxes.imap_first_recent_uid`. Messages at or above it are recent;
 * the one session that claims them (a read-write SELECT, or new mail reported to it) moves it up
 * to what it has seen. Nothing is recent in the folders that exist now.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE mailboxes ADD COLUMN imap_first_recent_uid bigint NOT NULL DEFAULT 1;
    UPDATE mailboxes SET imap_first_recent_uid = uidnext;

    CREATE TABLE mailbox_subscriptions (
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, name)
    );
    INSERT INTO mailbox_subscriptions (user_id, name) SELECT user_id, name FROM mailboxes WHERE subscribed ON CONFLICT DO NOTHING;

    CREATE FUNCTION mailbox_subscribe_created() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO mailbox_subscriptions (user_id, name) VALUES (NEW.user_id, NEW.name) ON CONFLICT DO NOTHING;
      RETURN NEW;
    END $$;
    CREATE TRIGGER mailboxes_subscribe_created AFTER INSERT ON mailboxes FOR EACH ROW EXECUTE FUNCTION mailbox_subscribe_created();

    CREATE FUNCTION mailbox_subscription_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM mailbox_subscriptions WHERE user_id = NEW.user_id AND name = OLD.name) THEN
        DELETE FROM mailbox_subscriptions WHERE user_id = NEW.user_id AND name = OLD.name;
        INSERT INTO mailbox_subscriptions (user_id, name) VALUES (NEW.user_id, NEW.name) ON CONFLICT DO NOTHING;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER mailboxes_subscription_renamed AFTER UPDATE OF name ON mailboxes FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION mailbox_subscription_renamed();
  `.execute(db);
}
