import type { ColumnType, Generated } from 'kysely';

/**
 * The typed shape of the store (what migrations create). Column names are snake_case as in SQL;
 * repositories map rows to the domain types they return.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface DomainsTable {
  id: Generated<number>;
  name: string;
  /** How strictly inbound mail checks apply for this domain (DomainTrustPolicy; `{}` is the default, strictest). */
  trust_policy: ColumnType<DomainTrustPolicyJson, string | undefined, string>;
  created_at: Generated<Date>;
}

/** The per-domain relaxations of the inbound checks (core/src/mail/inbound-auth.ts); absent keys are the defaults. */
export interface DomainTrustPolicyJson {
  dmarcReject?: 'enforce' | 'quarantine' | 'ignore';
  ownDomainSpoofing?: 'reject' | 'quarantine' | 'ignore';
  greylisting?: 'on' | 'off';
}

/** One check of inbound mail authentication (SPF, DKIM, DMARC, ARC): its result and the domain it concerns. */
export interface AuthCheckJson {
  result: string;
  domain: string | null;
}

/** SPF, DKIM, DMARC and ARC results of a message received on the MX (core/src/mail/inbound-auth.ts). */
export interface AuthenticationJson {
  spf: AuthCheckJson;
  dkim: AuthCheckJson;
  dmarc: AuthCheckJson & { policy: string | null };
  arc: AuthCheckJson;
}

/** One check that spoke about a received message, with the points it added (contracts/filters.ts `filterCheckSchema`). */
export interface FilterCheckJson {
  check: string;
  result: string;
  score: number;
  detail: string | null;
}

/** The spam filter's decision for a received message (contracts/filters.ts `messageFilterSchema`; migration 0016). */
export interface FilterDecisionJson {
  verdict: 'inbox' | 'junk';
  score: number;
  junkThreshold: number;
  rejectThreshold: number;
  engine: 'rspamd' | 'builtin';
  override: 'allow' | 'block' | null;
  reason: string | null;
  checks: FilterCheckJson[];
}

/** Where the filer puts a spooled message: the Inbox, or Junk (a DMARC quarantine verdict). */
export type SpoolVerdict = 'inbox' | 'junk';

type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

export type Role = 'admin' | 'domain-admin' | 'user';

export interface UsersTable {
  id: Generated<number>;
  domain_id: number;
  address: string;
  password_hash: string;
  role: Generated<Role>;
  display_name: string | null;
  disabled: Generated<boolean>;
  /** Per-user change counter: every change-log entry takes the next value. */
  modseq: Generated<number>;
  totp_secret: string | null;
  totp_enabled: Generated<boolean>;
  quota_bytes: number | null;
  /** Sum of the sizes of the user's message rows, kept by the mailbox writer (core/src/mail/quota.ts). */
  used_bytes: Generated<number>;
  /** How long the API holds a message the user sends (undo send), 0–30 s. */
  undo_send_seconds: Generated<number>;
  /** Plain text the webmail's compose inserts under `-- ` ('' for none), at most 2,000 characters. */
  signature: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface DomainAdminsTable {
  user_id: number;
  domain_id: number;
}

export interface SessionsTable {
  id: Generated<number>;
  user_id: number;
  token_hash: Buffer;
  csrf_token: string;
  mfa_pending: Generated<boolean>;
  ip: string | null;
  user_agent: string | null;
  created_at: Generated<Date>;
  last_seen_at: Generated<Date>;
  expires_at: Date;
}

export interface AppPasswordsTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  password_hash: string;
  created_at: Generated<Date>;
  last_used_at: Date | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Generated<Date>;
  actor_user_id: number | null;
  actor_address: string | null;
  action: string;
  target: string | null;
  ip: string | null;
  details: Json<Record<string, unknown>>;
}

export interface AliasesTable {
  id: Generated<number>;
  domain_id: number;
  address: string;
  target_user_id: number;
  /** Whether the target may send as this alias (for a catch-all: as any address of the domain); set by an admin. */
  allow_send: Generated<boolean>;
  created_at: Generated<Date>;
}

export type SpecialUse = '\\Inbox' | '\\Sent' | '\\Drafts' | '\\Archive' | '\\Junk' | '\\Trash';

export interface MailboxesTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  special_use: SpecialUse | null;
  uidvalidity: number;
  uidnext: Generated<number>;
  highestmodseq: Generated<number>;
  message_count: Generated<number>;
  unseen_count: Generated<number>;
  total_bytes: Generated<number>;
  subscribed: Generated<boolean>;
  created_at: Generated<Date>;
}

export interface BlobsTable {
  hash: Buffer;
  size: number;
  data: Buffer;
  created_at: Generated<Date>;
}

export type SpoolStatus = 'pending' | 'done' | 'failed';

export interface SpoolTable {
  id: Generated<number>;
  blob_hash: Buffer;
  mail_from: string;
  rcpt_to: string[];
  remote_ip: string | null;
  helo: string | null;
  tls: boolean;
  /** Trace header lines (Received:) this server adds, kept apart so the blob stays byte-exact. */
  trace_headers: string;
  /** The inbound checks' results (null: not checked). */
  authentication: NullableJson<AuthenticationJson>;
  /** The spam filter's decision (null: not judged); the filer copies it to the message. */
  filter: NullableJson<FilterDecisionJson>;
  verdict: Generated<SpoolVerdict>;
  status: Generated<SpoolStatus>;
  attempts: Generated<number>;
  error: string | null;
  received_at: Generated<Date>;
  processed_at: Date | null;
}

export interface AddressJson {
  name: string;
  address: string;
  /** The RFC 5322 group the address is listed in (`To: team: a@b;`); absent outside a group (and in rows stored before groups were kept). */
  group?: string;
}

export interface AttachmentJson {
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  disposition: string | null;
}

export interface MessagesTable {
  id: Generated<number>;
  user_id: number;
  mailbox_id: number;
  uid: number;
  modseq: number;
  flags: Generated<string[]>;
  internal_date: Timestamp;
  /** The zone INTERNALDATE was given in (IMAP APPEND), minutes east of UTC; 0 for mail received here. */
  internal_date_zone: Generated<number>;
  size: number;
  blob_hash: Buffer;
  trace_headers: Generated<string>;
  thread_id: number;
  message_id_header: string | null;
  in_reply_to: string | null;
  references: Generated<string[]>;
  subject: string;
  normalized_subject: string;
  from_json: Json<AddressJson[]>;
  to_json: Json<AddressJson[]>;
  cc_json: Json<AddressJson[]>;
  from_text: string;
  to_text: string;
  cc_text: string;
  sent_date: Date | null;
  snippet: string;
  body_text: string;
  has_attachments: boolean;
  attachments: Json<AttachmentJson[]>;
  attachment_names: string;
  spool_id: number | null;
  /** SPF/DKIM/DMARC/ARC as checked on arrival at the MX; null for mail that was not checked (sent, older). */
  authentication: NullableJson<AuthenticationJson>;
  /** The spam filter's decision on arrival; null for mail that was not judged (sent, imported, older). */
  filter: NullableJson<FilterDecisionJson>;
  /** When the message entered its current mailbox (Trash is purged by this). */
  moved_at: Generated<Date>;
  created_at: Generated<Date>;
}

export interface SpoolFilingsTable {
  spool_id: number;
  user_id: number;
  message_id: number;
  created_at: Generated<Date>;
}

/**
 * A message's free-text search vector (migration 0026), written by the search index stage after the
 * message is filed; user, folder and date are copies of the message's, so a search walks this table
 * alone in date order.
 */
export interface MessageSearchTable {
  message_id: number;
  user_id: number;
  mailbox_id: number;
  internal_date: Date;
  /** tsvector (as text when read). */
  search: string;
}

/** A message whose search vector is not computed yet (see MessageSearchTable). */
export interface SearchPendingTable {
  message_id: number;
  user_id: number;
}

export type ChangeKind = 'message.new' | 'message.flags' | 'message.moved' | 'message.deleted' | 'mailbox.created' | 'mailbox.renamed' | 'mailbox.deleted';

export interface ChangesTable {
  user_id: number;
  modseq: number;
  kind: ChangeKind;
  mailbox_id: number | null;
  message_id: number | null;
  uid: number | null;
  payload: Json<Record<string, unknown>>;
  created_at: Generated<Date>;
}

export interface ContactsTable {
  user_id: number;
  address: string;
  name: string;
  sent_count: Generated<number>;
  received_count: Generated<number>;
  last_at: Date;
}

export interface ThreadKeysTable {
  user_id: number;
  message_id_ref: string;
  thread_id: number;
}

/** A file a user uploaded ahead of composing; the bytes are `<DATA_DIR>/uploads/<id>`. */
export interface UploadsTable {
  id: string;
  user_id: number;
  filename: string;
  content_type: string;
  size: number;
  created_at: Generated<Date>;
}

/** A domain's DKIM key; only the signer reads private_key_pem. At most one active per domain. */
export interface DkimKeysTable {
  id: Generated<number>;
  domain_id: number;
  selector: string;
  private_key_pem: string;
  public_key_b64: string;
  active: Generated<boolean>;
  created_at: Generated<Date>;
}

/** One message a user sent, as it leaves: bytes, envelope sender, the domain it is DKIM-signed for. */
export interface OutboundMessagesTable {
  id: Generated<number>;
  user_id: number;
  sent_message_id: number | null;
  /** NULL once purged: settled longer than OUTBOUND_RETENTION_DAYS ago, the bytes let go (migration 0020). */
  blob_hash: Buffer | null;
  size: number;
  /** Envelope sender; '' is the null sender (never gets a DSN). */
  mail_from: string;
  message_id_header: string | null;
  subject: Generated<string>;
  dkim_domain: string | null;
  created_at: Generated<Date>;
}

export type DeliveryStatus = 'queued' | 'deferred' | 'delivered' | 'bounced' | 'expired';

/** One recipient of an outbound message: where it stands, what the remote server said last. */
export interface DeliveriesTable {
  id: Generated<number>;
  outbound_id: number;
  user_id: number;
  recipient: string;
  domain: string;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  last_reply: string | null;
  remote_mta: string | null;
  next_attempt_at: Generated<Date>;
  /** A worker's lease while it delivers; expired leases are taken over. */
  locked_until: Date | null;
  /** Who holds the lease, as `<worker id>#<attempt>`: an outcome is recorded only under the current token (migration 0015). */
  lease_token: string | null;
  /** Bounced or expired, and the sender's DSN is not filed yet. */
  dsn_pending: Generated<boolean>;
  /** The sender was told the message is delayed (a "delayed" DSN, once). */
  delay_warned: Generated<boolean>;
  updated_at: Generated<Date>;
}

export interface DeliveryEventsTable {
  id: Generated<number>;
  delivery_id: number;
  status: string;
  reply: string | null;
  remote_mta: string | null;
  next_attempt_at: Date | null;
  at: Generated<Date>;
}

export type ScheduledSendStatus = 'pending' | 'sent' | 'cancelled' | 'failed';

/** A message sent through the API and held until send_at (undo send, scheduled send). */
export interface ScheduledSendsTable {
  id: Generated<number>;
  user_id: number;
  blob_hash: Buffer;
  /** The fields as composed (DraftInput plus draftId), to reopen a cancelled send. */
  input: Json<Record<string, unknown>>;
  recipients: string[];
  mail_from: string;
  dkim_domain: string | null;
  draft_id: number | null;
  send_at: Timestamp;
  status: Generated<ScheduledSendStatus>;
  error: string | null;
  sent_message_id: number | null;
  outbound_id: number | null;
  /** The client's Idempotency-Key for this send (migration 0027); unique per user. */
  idempotency_key: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** A user's allow or block list entry: an address or a domain, lower case (migration 0016). */
export interface SenderRulesTable {
  id: Generated<number>;
  user_id: number;
  kind: 'allow' | 'block';
  pattern: string;
  created_at: Generated<Date>;
}

export interface Database {
  domains: DomainsTable;
  users: UsersTable;
  aliases: AliasesTable;
  mailboxes: MailboxesTable;
  blobs: BlobsTable;
  spool: SpoolTable;
  messages: MessagesTable;
  spool_filings: SpoolFilingsTable;
  message_search: MessageSearchTable;
  search_pending: SearchPendingTable;
  changes: ChangesTable;
  domain_admins: DomainAdminsTable;
  sessions: SessionsTable;
  app_passwords: AppPasswordsTable;
  audit_log: AuditLogTable;
  contacts: ContactsTable;
  thread_keys: ThreadKeysTable;
  uploads: UploadsTable;
  dkim_keys: DkimKeysTable;
  outbound_messages: OutboundMessagesTable;
  deliveries: DeliveriesTable;
  delivery_events: DeliveryEventsTable;
  scheduled_sends: ScheduledSendsTable;
  sender_rules: SenderRulesTable;
}
