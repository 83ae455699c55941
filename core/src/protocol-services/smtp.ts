import type { DbOrTx } from '../db/client.js';
import { resolveRecipient, type RecipientVerdict } from '../mail/recipient-routing.js';
import { createClientAuthService, type ClientAuthService, type SignInFailureRules } from '../auth/authenticate.js';
import type { DraftSender } from '../mail/drafts.js';
import { mayUseSenderAddress } from '../mail/recipient-routing.js';
import { submitRawMessage, type SendDeps, type SubmitEnvelope } from '../mail/send.js';
import type { SpoolInput } from '../repositories/spool.repository.js';
import type { TrustInput, TrustVerdict } from '../mail/inbound-auth.js';
import { isOverQuota } from '../mail/quota.js';
import type { FilterCheckJson } from '../db/schema.js';
import type { GreylistDecision, GreylistQuery } from '../mail/spam/greylist.js';
import type { VirusScanner, VirusScanResult } from '../mail/spam/virus-scan.js';

/**
 * The narrow services the SMTP listeners stand on (smtp-server/src/handlers), and core's
 * implementations of them. Protocol code never holds a database handle: it gets these, so its
 * transcript tests can run on in-memory fakes (smtp-server/src/handlers/*.transcript.test.ts).
 * smtp-server/src/app.ts wires the real ones. The IMAP server gets its own set the same way.
 */

/** Who receives mail for an address (core's routing rule, `resolveRecipient`). */
export interface RecipientResolver {
  resolve(address: string): Promise<RecipientVerdict>;
}

/**
 * The MX's RCPT answer: the routing verdict, or `full` when the local user is at or over their
 * storage quota (452 4.2.2: the sender retries, then bounces; core/src/mail/quota.ts).
 */
export type MxRecipientVerdict = RecipientVerdict | { kind: 'full'; userId: number; address: string };

export interface MxRecipientResolver {
  resolve(address: string): Promise<MxRecipientVerdict>;
}

/** Where the MX puts an accepted message: resolves with the spool id once it is durable (then 250 may be said). */
export interface SpoolSink {
  write(item: SpoolInput): Promise<number>;
}

/**
 * Inbound mail authentication at the end of DATA (core/src/mail/inbound-auth.ts): SPF, DKIM,
 * DMARC, ARC and the verdict (accept, Junk, refuse). DNS trouble never throws (it is `temperror`);
 * a throw is a store failure (451).
 */
export interface InboundTrustService {
  verify(input: TrustInput): Promise<TrustVerdict>;
  /** Whether a client is in SMTP_TRUSTED_NETWORKS: the one place later checks (greylisting, DNSBL, rates) ask. */
  isTrustedNetwork(ip: string): boolean;
}

/** Greylisting at RCPT (core/src/mail/spam/greylist.ts `createGreylist`). Never asked for trusted clients. */
export interface MxGreylist {
  /** Throws only when the store cannot be read (451 4.3.0); Redis trouble is a pass. */
  check(query: GreylistQuery): Promise<GreylistDecision>;
  /** After an accepted message that passed DMARC: its client network and sender domain skip greylisting. Never throws. */
  rememberGoodSender(ip: string, mailFrom: string): Promise<void>;
}

/** DNSBL and reverse DNS of a client, once per connection (core/src/mail/spam/connection-checks.ts). Never throws. */
export interface MxConnectionChecks {
  check(input: { ip: string; helo: string | null }): Promise<FilterCheckJson[]>;
}

/** Virus scanning at the end of DATA (core/src/mail/spam/virus-scan.ts); `createMxVirusScan` counts refusals. */
export interface MxVirusScan extends VirusScanner {
  /** CLAMD_FAIL: when clamd cannot answer, 451 4.7.0 (`tempfail`) or accept unscanned (`accept`). */
  readonly onError: 'tempfail' | 'accept';
}

/** The MX listener (port 25). */
export interface MxServices {
  /** `createMxRecipientResolver` is the real one. */
  recipients: MxRecipientResolver;
  /** Core's group-committing SpoolWriter (core/src/spool/spool-writer.ts) is the real one. */
  spool: SpoolSink;
  /** `createInboundTrust` is the real one. */
  trust: InboundTrustService;
  /** Absent: no greylisting (SMTP_GREYLIST=off, or a listener built without Redis). */
  greylist?: MxGreylist;
  /** Absent: no connection checks. */
  connectionChecks?: MxConnectionChecks;
  /** Absent: no virus scanning (neither CLAMD_SOCKET nor CLAMD_HOST). */
  virusScan?: MxVirusScan;
}

/** A scanner with the MX's failure mode; `count` is called (best effort) for each infected message (Redis `VIRUS_REFUSED_COUNTER`). */
export function createMxVirusScan(scanner: VirusScanner, options: { onError: 'tempfail' | 'accept'; count?(): Promise<unknown> }): MxVirusScan {
  return {
    onError: options.onError,
    async scan(raw): Promise<VirusScanResult> {
      const result = await scanner.scan(raw);
      if (result.status === 'infected') await options.count?.().catch(() => undefined);
      return result;
    },
  };
}

/** May a user send as an address (envelope sender)? */
export interface SenderPolicy {
  mayUse(userId: number, address: string): Promise<boolean>;
}

/** The submission listeners (587, 465). */
export interface SubmissionServices {
  /** `authenticateClient` for the `smtp` channel: app passwords allowed; with TOTP on, only they. */
  auth: ClientAuthService;
  senders: SenderPolicy;
  recipients: RecipientResolver;
  /**
   * Hands a message to core's send path (`submitRawMessage`); resolves once the Sent copy and the
   * delivery record are committed. Refusals are thrown as core's errors (SenderNotAllowedError,
   * SendRateLimitedError, an AppError below 500); anything else is a temporary failure.
   */
  submit(sender: DraftSender, envelope: SubmitEnvelope, raw: Buffer): Promise<{ outboundId: number }>;
}

export function createRecipientResolver(db: DbOrTx): RecipientResolver {
  return { resolve: (address) => resolveRecipient(db, address) };
}

/**
 * RCPT on the MX: routing, then the quota of the user it reaches. Mail accepted before the user
 * went over (already in the spool) is still filed: the quota only stops new transactions.
 */
export function createMxRecipientResolver(db: DbOrTx): MxRecipientResolver {
  return {
    async resolve(address) {
      const verdict = await resolveRecipient(db, address);
      if (verdict.kind === 'local' && (await isOverQuota(db, verdict.userId))) return { kind: 'full', userId: verdict.userId, address: verdict.address };
      return verdict;
    },
  };
}

/** The submission services on the real store, Redis limiter and outbound queue. */
export function createSubmissionServices(deps: SendDeps, options: { authRules?: SignInFailureRules } = {}): SubmissionServices {
  return {
    auth: createClientAuthService({ db: deps.db, limiter: deps.limiter, rules: options.authRules }, 'smtp'),
    senders: { mayUse: (userId, address) => mayUseSenderAddress(deps.db, userId, address) },
    recipients: createRecipientResolver(deps.db),
    submit: (sender, envelope, raw) => submitRawMessage(deps, sender, envelope, raw),
  };
}
