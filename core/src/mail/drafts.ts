import MailComposer from 'nodemailer/lib/mail-composer';
import type { Db, DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { createBlobRepository } from '../repositories/blob.repository.js';
import { createMessageRepository, type MessageDetail, type MessageListItem } from '../repositories/message.repository.js';
import { createUploadRepository } from '../repositories/upload.repository.js';
import { uploadPath } from '../storage/upload-files.js';
import { parseAddress } from './address.js';
import { deleteMessages, writeMailboxes, type MailboxWrite, type MailboxWriterDeps } from './mailbox-writer/index.js';
import { summarizeMessage } from './parse.js';
import { assertRoom } from './quota.js';
import { sharedMessageRenderer } from './render/renderer.js';

/**
 * Drafts, and the MIME of messages users write. A draft is a message in the user's \Drafts mailbox
 * (flags \Draft \Seen), so IMAP clients see the same drafts as the webmail. Saving builds the MIME
 * (From the user's own address, Bcc kept: it is the user's own copy) and files it through the
 * mailbox writer; replacing files the new version and deletes the old one in one transaction.
 * Attachments come from the user's uploads (core/src/repositories/upload.repository.ts).
 *
 * A message the user writes is at most `maxMessageBytes` (the MX's SMTP_MAX_MESSAGE_SIZE: what
 * we would accept from anyone else): 413 'message.too_large' before anything is built when its
 * parts alone are too big, and again if the built MIME is. Uploads are attached by path, so
 * MailComposer streams each file into the encoder: the only copy in memory is the encoded
 * message. Saving a draft needs room in the user's quota (413 'quota.exceeded', mail/quota.ts).
 */

// ---------------------------------------------------------------------------------------------
// Drafts

export interface DraftInput {
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  text?: string;
  html?: string;
  /** Upload ids of the user (their files are attached in this order). */
  attachments?: string[];
  /** The id of the user's message this draft answers (sets In-Reply-To and References). */
  inReplyTo?: number;
  /** With inReplyTo: quote the original below the text ("On …, … wrote:" and "> " lines). */
  quoteOriginal?: boolean;
  /** The id of the user's message this one forwards: its text is quoted and its attachments attached. */
  forwardOf?: number;
}

export interface DraftDeps extends MailboxWriterDeps {
  dataDir: string;
  /** The largest message a user may write, in bytes; default DEFAULT_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
}

/** The default of SMTP_MAX_MESSAGE_SIZE (core/src/config/load-config.ts). */
export const DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

/** Base64 makes 4 bytes of every 3: encoded attachments are at least this much bigger. */
const base64Size = (bytes: number) => Math.ceil(bytes / 3) * 4;

function tooLarge(max: number, size: number): AppError {
  return new AppError('message.too_large', `the message would be about ${Math.ceil(size / (1024 * 1024))} MB with its attachments; a message may be at most ${Math.floor(max / (1024 * 1024))} MB`, 413);
}

export interface DraftSender {
  userId: number;
  address: string;
  name?: string | null;
}

/**
 * A recipient as typed: `addr@domain` or `Name <addr@domain>`. 400 `code` (default
 * 'draft.invalid_address') names the field and the bad entry.
 */
export function parseRecipient(field: string, input: string, code = 'draft.invalid_address'): { name: string; address: string } {
  const angle = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(input);
  const name = angle ? angle[1]!.replace(/^"(.*)"$/, '$1').trim() : '';
  const parsed = parseAddress(angle ? angle[2]! : input);
  if (!parsed) throw new AppError(code, `${field}: ${JSON.stringify(input.slice(0, 320))} is not a valid mail address (expected local@domain.tld)`, 400);
  return { name, address: parsed.address };
}

export interface MimeOptions {
  /** Keep the Bcc header (a draft is the user's own copy); mail that leaves never carries it. */
  keepBcc: boolean;
  /** Message-ID to set (with angle brackets); MailComposer makes one otherwise. */
  messageId?: string;
  date?: Date;
  /** Error code for a bad address (400). */
  invalidAddressCode?: string;
}

export interface ComposedMessage {
  raw: Buffer;
  to: Array<{ name: string; address: string }>;
  cc: Array<{ name: string; address: string }>;
  bcc: Array<{ name: string; address: string }>;
}

/** The user's own message and its bytes; 404 naming `field` when it is not theirs. */
async function loadOwnMessage(deps: DraftDeps, userId: number, id: number, field: string): Promise<{ message: MessageDetail; raw: Buffer }> {
  const message = await createMessageRepository(deps.db).get(userId, id);
  if (!message) throw new AppError('message.not_found', `${field}: no such message ${id}`, 404);
  const raw = await createBlobRepository(deps.db).get(message.blobHash);
  if (!raw) throw new AppError('message.unavailable', `${field}: the content of message ${id} is missing`, 500);
  return { message, raw };
}

/** Names with addresses; an entry with no address (a group without members, `undisclosed-recipients:;`) by its name. */
function addressList(list: Array<{ name: string; address: string }>): string {
  return list.map((a) => (a.name && a.address ? `${a.name} <${a.address}>` : a.name || a.address)).join(', ');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

interface Quoted {
  text: string;
  html: string;
  attachments: Array<{ filename: string; contentType: string; content: Buffer }>;
}

/**
 * The original below a reply (`> ` lines under "On <date>, <from> wrote:") or a forward (a
 * "Forwarded message" header block, the original text, and its attachments). The original's
 * HTML is not carried over: its text is quoted, escaped, in a blockquote.
 */
async function quoteOriginal(deps: DraftDeps, userId: number, id: number, mode: 'reply' | 'forward'): Promise<Quoted> {
  const { message, raw } = await loadOwnMessage(deps, userId, id, mode === 'reply' ? 'inReplyTo' : 'forwardOf');
  // Off the event loop and usually from the cache: the reader has just rendered this message.
  const rendered = await sharedMessageRenderer().render(message.id, raw, { allowRemoteImages: false, attachmentUrl: () => '' });
  const body = rendered.text.replace(/\r\n/g, '\n').trimEnd();
  const from = addressList(message.from) || '(unknown sender)';
  const date = message.internalDate.toUTCString();
  if (mode === 'reply') {
    const intro = `On ${date}, ${from} wrote:`;
    return {
      text: `\n\n${intro}\n${body.split('\n').map((l) => (l.startsWith('>') ? `>${l}` : `> ${l}`)).join('\n')}\n`,
      html: `<p>${escapeHtml(intro)}</p><blockquote type="cite" style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">${escapeHtml(body).replace(/\n/g, '<br>')}</blockquote>`,
      attachments: [],
    };
  }
  const header = [
    '---------- Forwarded message ----------',
    `From: ${from}`,
    `Date: ${date}`,
    `Subject: ${message.subject}`,
    `To: ${addressList(message.to)}`,
    ...(message.cc.length > 0 ? [`Cc: ${addressList(message.cc)}`] : []),
  ];
  const attachments: Quoted['attachments'] = [];
  const indexes = rendered.attachments.map((a) => a.index);
  const loaded = indexes.length > 0 ? await sharedMessageRenderer().attachments(raw, indexes) : [];
  loaded.forEach((a, i) => {
    if (a) attachments.push({ filename: a.filename ?? `attachment-${indexes[i]! + 1}`, contentType: a.contentType, content: a.content });
  });
  return {
    text: `\n\n${header.join('\n')}\n\n${body}\n`,
    html: `<p>${header.map(escapeHtml).join('<br>')}</p><div>${escapeHtml(body).replace(/\n/g, '<br>')}</div>`,
    attachments,
  };
}

/**
 * Builds the MIME of a message the user writes (drafts and sending): From the user's address,
 * recipients checked (400 naming a bad one), the user's uploads attached (404 if one is not
 * theirs), In-Reply-To/References from the replied message (404 if not theirs).
 */
export async function composeMime(deps: DraftDeps, from: DraftSender, input: DraftInput, options: MimeOptions): Promise<ComposedMessage> {
  const recipients = (field: 'to' | 'cc' | 'bcc') => (input[field] ?? []).map((r) => parseRecipient(field, r, options.invalidAddressCode));
  const to = recipients('to');
  const cc = recipients('cc');
  const bcc = recipients('bcc');
  const uploads = await createUploadRepository(deps.db, deps.dataDir).requireMany(from.userId, input.attachments ?? []);

  let inReplyTo: string | undefined;
  let references: string[] | undefined;
  if (input.inReplyTo !== undefined) {
    const parent = await createMessageRepository(deps.db).get(from.userId, input.inReplyTo);
    if (!parent) throw new AppError('message.not_found', `inReplyTo: no such message ${input.inReplyTo}`, 404);
    if (parent.messageId) {
      inReplyTo = parent.messageId;
      references = [...parent.references.filter((r) => r !== parent.messageId), parent.messageId];
    }
  }
  const quoted =
    input.forwardOf !== undefined
      ? await quoteOriginal(deps, from.userId, input.forwardOf, 'forward')
      : input.inReplyTo !== undefined && input.quoteOriginal
        ? await quoteOriginal(deps, from.userId, input.inReplyTo, 'reply')
        : null;
  const text = input.text ?? (input.html === undefined ? '' : undefined);

  // What the parts alone take, encoded: a lower bound of the message's size, checked before building it.
  const max = deps.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const partsSize =
    [...uploads.map((u) => u.size), ...(quoted?.attachments ?? []).map((a) => a.content.length)].reduce((sum, n) => sum + base64Size(n), 0) +
    Buffer.byteLength(input.text ?? '') +
    Buffer.byteLength(input.html ?? '') +
    Buffer.byteLength(quoted?.text ?? '');
  if (partsSize > max) throw tooLarge(max, partsSize);

  const composer = new MailComposer({
    from: { name: from.name ?? '', address: from.address },
    to,
    cc,
    bcc,
    subject: input.subject ?? '',
    text: quoted ? `${text ?? ''}${quoted.text}` : text,
    html: quoted && input.html !== undefined ? `${input.html}${quoted.html}` : input.html,
    inReplyTo,
    references,
    messageId: options.messageId,
    date: options.date,
    attachments: [
      ...uploads.map((u) => ({ filename: u.filename, contentType: u.contentType, path: uploadPath(deps.dataDir, u.id) })),
      ...(quoted?.attachments ?? []),
    ],
    // Uploads are local files read by path; never let a message fetch a URL or read another path.
    disableUrlAccess: true,
  });
  const node = composer.compile();
  node.keepBcc = options.keepBcc;
  const raw = await node.build();
  if (raw.length > max) throw tooLarge(max, raw.length);
  return { raw, to, cc, bcc };
}

async function buildDraft(deps: DraftDeps, from: DraftSender, input: DraftInput): Promise<Buffer> {
  return (await composeMime(deps, from, input, { keepBcc: true })).raw;
}

/** Files a draft (already built) into the user's \Drafts in `write` if it fits in their quota; returns its message id. */
async function fileDraft(write: MailboxWrite, userId: number, raw: Buffer): Promise<number> {
  const [filed] = await write.append(userId, [{ mailbox: { specialUse: '\\Drafts' }, content: { raw }, summary: await summarizeMessage(raw), flags: ['\\Draft', '\\Seen'] }], { enforceQuota: true });
  return filed!.messageId;
}

/** Files a new draft in the user's \Drafts; returns its message id. */
export async function saveDraft(deps: DraftDeps, from: DraftSender, input: DraftInput): Promise<number> {
  await assertRoom(deps.db, from.userId);
  const raw = await buildDraft(deps, from, input);
  return writeMailboxes(deps, [from.userId], (w) => fileDraft(w, from.userId, raw));
}

/** 404 'draft.not_found' unless the message is in the user's \Drafts. */
export async function requireDraft(deps: { db: DbOrTx }, userId: number, id: number): Promise<void> {
  const drafts = await createMailboxRepository(deps.db).findSpecial(userId, '\\Drafts');
  const message = drafts ? await createMessageRepository(deps.db).get(userId, id) : null;
  if (!message || message.mailboxId !== drafts!.id) throw new AppError('draft.not_found', 'no such draft', 404);
}

/**
 * Deletes the old version and files the new one, in one transaction (the old one's bytes are
 * freed before the new one is measured against the quota); returns the new id. If the old
 * version was deleted meanwhile (another tab, an IMAP client), the new version still stands.
 */
export async function replaceDraft(deps: DraftDeps, from: DraftSender, draftId: number, input: DraftInput): Promise<number> {
  await requireDraft(deps, from.userId, draftId);
  const raw = await buildDraft(deps, from, input);
  return writeMailboxes(deps, [from.userId], async (w) => {
    // Looked up again under the user lock, so it cannot vanish between the check and the delete.
    const old = await createMessageRepository(w.tx).get(from.userId, draftId);
    if (old) await w.remove(from.userId, [draftId]);
    return fileDraft(w, from.userId, raw);
  });
}

export async function deleteDraft(deps: MailboxWriterDeps, userId: number, draftId: number): Promise<void> {
  await requireDraft(deps, userId, draftId);
  await deleteMessages(deps, userId, [draftId]);
}

/** The user's drafts, newest first. */
export async function listDrafts(db: Db, userId: number, limit = 200): Promise<MessageListItem[]> {
  const drafts = await createMailboxRepository(db).findSpecial(userId, '\\Drafts');
  if (!drafts) return [];
  return createMessageRepository(db).listPage(userId, drafts.id, { limit });
}
