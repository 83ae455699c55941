import type { MxRecipientResolver } from '@mailyard/core';
import { replies, type SmtpReplyError } from '../protocol/replies.js';

export type RcptVerdict = { accept: true; userId: number } | { accept: false; reply: SmtpReplyError };

/**
 * RCPT TO on the MX: only existing local users and aliases (and their +tags), or any address of a
 * local domain with a catch-all alias (@domain). A domain that is not ours is a relay attempt; a
 * user at or over their quota is full (452 4.2.2, try later). A store failure is thrown (the
 * caller answers 451: fail closed).
 */
export async function checkRecipientExists(recipients: MxRecipientResolver, rcpt: string): Promise<RcptVerdict> {
  const verdict = await recipients.resolve(rcpt);
  switch (verdict.kind) {
    case 'local':
      return { accept: true, userId: verdict.userId };
    case 'unknown':
      return { accept: false, reply: replies.unknownUser(rcpt) };
    case 'relay':
      return { accept: false, reply: replies.relayDenied(rcpt) };
    case 'invalid':
      return { accept: false, reply: replies.badRecipient(rcpt) };
    case 'full':
      return { accept: false, reply: replies.mailboxFull(rcpt) };
  }
}
