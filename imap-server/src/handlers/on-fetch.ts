import { AppError, type ImapMessageRow } from '@mailyard/core';
import { parseFetchItems, parseFetchModifiers, type FetchItem, type SectionSpec } from '../protocol/commands/fetch.js';
import { MimeMessage, partial } from '../protocol/message/index.js';
import { binaryLiteral, flagList, internalDate, literal, type Part } from '../protocol/response.js';
import { nextBatch } from './content-batch.js';
import { sendVanishedEarlier } from './qresync.js';
import type { ImapSession } from './session.js';
import type { MessageStructure } from './structure-cache.js';
import { bad, no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * FETCH and UID FETCH: UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ (CONDSTORE, with
 * CHANGEDSINCE; with QRESYNC, VANISHED), the full bytes (BODY[], RFC822) from the message loader, and ENVELOPE,
 * BODYSTRUCTURE, BODY and BODY[section]<partial> from the MIME module (protocol/message), and
 * BINARY[part]<partial> and BINARY.SIZE[part] (RFC 3516) decoded there: a literal8 when the bytes
 * hold NUL, `NO [UNKNOWN-CTE]` for an encoding we cannot remove. A body fetch that is not PEEK
 * sets \Seen through the mailbox writer, and the response carries FLAGS. The set may be `$` (SEARCHRES).
 */

/** A BINARY item met a Content-Transfer-Encoding we cannot remove: the FETCH fails (RFC 3516 4.2). */
class UnknownCteError extends Error {
  readonly code = 'imap.unknown_cte';
}

const needsContent = (item: FetchItem) => !['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'MODSEQ'].includes(item.type);
/** Items answered from the message's structure alone (structure-cache.ts): no bytes needed once it is known. */
const isStructure = (item: FetchItem) => item.type === 'ENVELOPE' || item.type === 'BODYSTRUCTURE' || item.type === 'BODY';
const setsSeen = (item: FetchItem) => ((item.type === 'section' || item.type === 'binary') && !item.peek) || item.type === 'RFC822' || item.type === 'RFC822.TEXT';

function sectionOf(item: FetchItem): { spec: SectionSpec; name: string; partial?: { start: number; length: number } } | null {
  if (item.type === 'section') return { spec: item.section, name: `BODY[${item.label}]${item.partial ? `<${item.partial.start}>` : ''}`, partial: item.partial };
  if (item.type === 'RFC822') return { spec: { path: [] }, name: 'RFC822' };
  if (item.type === 'RFC822.HEADER') return { spec: { path: [], kind: 'HEADER' }, name: 'RFC822.HEADER' };
  if (item.type === 'RFC822.TEXT') return { spec: { path: [], kind: 'TEXT' }, name: 'RFC822.TEXT' };
  return null;
}

async function fetch(session: ImapSession, byUid: boolean, setText: string, itemsToken: Parameters<typeof parseFetchItems>[0], modifierTokens: Parameters<typeof parseFetchModifiers>[0], tag: string): Promise<Reply> {
  const selected = session.selected!;
  const { set, byUid: setByUid } = selected.sequenceSet(setText, byUid, tag);
  const items = parseFetchItems(itemsToken, tag);
  const { changedSince, vanished } = parseFetchModifiers(modifierTokens, tag);
  if (!setByUid && selected.outOfRange(set)) return bad('Invalid message sequence number');
  // RFC 7162 3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE, after ENABLE QRESYNC.
  if (vanished && (!byUid || changedSince === undefined || !session.qresync)) return bad('VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled');
  if (vanished) await sendVanishedEarlier(session, changedSince!, set);
  if (changedSince !== undefined || items.some((i) => i.type === 'MODSEQ')) await session.enableCondstore();
  let targets = selected.resolve(set, setByUid);
  if (changedSince !== undefined) targets = targets.filter((t) => t.row.modseq > changedSince);

  const markSeen = !selected.readOnly && items.some(setsSeen);
  const seenNow = new Set<number>();
  if (markSeen) {
    const unseen = targets.filter((t) => !t.row.flags.includes('\\Seen'));
    // A BINARY item that cannot be decoded fails the FETCH: find out before any flag changes.
    const binaryItems = items.filter((i) => i.type === 'binary' || i.type === 'binary.size');
    for (const { row } of binaryItems.length > 0 ? unseen : []) {
      const failure = await binaryFailure(session, row.id, binaryItems);
      if (failure) return no(failure.message, 'UNKNOWN-CTE');
    }
    if (unseen.length > 0) {
      const changed = await session.services.messages.setFlags(session.userId, unseen.map((t) => t.row.id), { add: ['\\Seen'] });
      for (const m of changed) {
        selected.updateFlags(m.uid, m.flags, m.modseq);
        if (m.changed) seenNow.add(m.uid);
      }
    }
  }

  const wantFlags = items.some((i) => i.type === 'FLAGS');
  const wantModseq = session.condstore && (changedSince !== undefined || wantFlags || items.some((i) => i.type === 'MODSEQ'));
  // The bytes are loaded only for messages that need them: a body item, or a structure not known yet.
  const bytesAlways = items.some((i) => needsContent(i) && !isStructure(i));
  const structureWanted = items.some(isStructure);
  const structureCache = session.deps.structures;
  const needsBytes = (row: ImapMessageRow) => bytesAlways || (structureWanted && structureCache.get(row.id) === undefined);
  let loaded = new Map<number, Buffer>();
  const asked = new Set<number>();
  for (let i = 0; i < targets.length; i++) {
    const { seq, row } = targets[i]!;
    const known = structureWanted ? structureCache.get(row.id) : undefined;
    const withBytes = bytesAlways || (structureWanted && known === undefined);
    if (withBytes && !asked.has(row.id)) {
      const ids = nextBatch(targets, i, needsBytes);
      for (const id of ids) asked.add(id);
      loaded = await session.services.messages.contents(session.userId, ids);
    }
    const content = withBytes ? loaded.get(row.id) : undefined;
    // Deleted by someone else meanwhile: its expunge is reported later; nothing to say about it now.
    if (withBytes && content === undefined) continue;
    let parts: Part[];
    try {
      parts = await fetchParts(session, row, items, { uid: byUid || items.some((i) => i.type === 'UID'), flags: wantFlags || seenNow.has(row.uid), modseq: wantModseq || (session.condstore && seenNow.has(row.uid)) }, content ?? null, known);
    } catch (err) {
      // Deleted by someone else meanwhile: its expunge is reported later; nothing to say about it now.
      if (err instanceof AppError && err.code === 'message.not_found') continue;
      if (err instanceof UnknownCteError) return no(err.message, 'UNKNOWN-CTE');
      throw err;
    }
    await session.send(`* ${seq} FETCH (`, ...parts, ')');
  }
  return ok(`${byUid ? 'UID ' : ''}FETCH completed`);
}

/** One message's FETCH response items; `content` is null when no item needs the bytes (`known`, the cached structure, answers the structure items). */
async function fetchParts(session: ImapSession, row: ImapMessageRow, items: readonly FetchItem[], include: { uid: boolean; flags: boolean; modseq: boolean }, content: Buffer | null, known: MessageStructure | undefined): Promise<Part[]> {
  const out: Part[][] = [];
  if (include.uid) out.push([`UID ${row.uid}`]);
  if (include.flags) out.push([`FLAGS ${flagList(session.selected!.flagsOf(row))}`]);
  if (include.modseq) out.push([`MODSEQ (${row.modseq})`]);
  const mime = content && MimeMessage.parse(content);
  let structure = known;
  const structureOf = () => (structure ??= session.deps.structures.remember(row.id, mime!));
  for (const item of items) {
    switch (item.type) {
      case 'UID':
      case 'FLAGS':
      case 'MODSEQ':
        break; // added once, above
      case 'INTERNALDATE':
        out.push([`INTERNALDATE ${internalDate(row.internalDate, row.internalDateZone)}`]);
        break;
      case 'RFC822.SIZE':
        out.push([`RFC822.SIZE ${row.size}`]);
        break;
      case 'ENVELOPE':
        out.push(['ENVELOPE ', structureOf().envelope]);
        break;
      case 'BODYSTRUCTURE':
      case 'BODY':
        out.push([`${item.type} `, item.type === 'BODYSTRUCTURE' ? structureOf().bodyStructure : structureOf().body]);
        break;
      case 'binary': {
        const bytes = binaryBytes(mime!, item.path);
        out.push([`BINARY[${item.label}]${item.partial ? `<${item.partial.start}>` : ''} `, binaryLiteral(item.partial ? partial(bytes, item.partial.start, item.partial.length) : bytes)]);
        break;
      }
      case 'binary.size':
        out.push([`BINARY.SIZE[${item.label}] ${binaryBytes(mime!, item.path).length}`]);
        break;
      default: {
        const section = sectionOf(item)!;
        let bytes = section.spec.path.length === 0 && !section.spec.kind ? content! : mime!.section(section.spec);
        if (section.partial) bytes = partial(bytes, section.partial.start, section.partial.length);
        out.push([`${section.name} `, literal(bytes)]);
      }
    }
  }
  return out.flatMap((parts, i) => (i === 0 ? parts : [' ', ...parts]));
}

/** The error a message's BINARY items would fail with, or null (a message gone meanwhile fails nothing). */
async function binaryFailure(session: ImapSession, messageId: number, items: readonly FetchItem[]): Promise<UnknownCteError | null> {
  let mime: MimeMessage;
  try {
    mime = MimeMessage.parse(await session.services.messages.content(session.userId, messageId));
  } catch (err) {
    if (err instanceof AppError && err.code === 'message.not_found') return null;
    throw err;
  }
  try {
    for (const item of items) if (item.type === 'binary' || item.type === 'binary.size') binaryBytes(mime, item.path);
    return null;
  } catch (err) {
    if (err instanceof UnknownCteError) return err;
    throw err;
  }
}

function binaryBytes(mime: MimeMessage, path: number[]): Buffer {
  const result = mime.binary(path);
  if ('unknownEncoding' in result) throw new UnknownCteError(`Unknown Content-Transfer-Encoding ${result.unknownEncoding.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}`);
  return result.bytes;
}

export const fetchCommand: CommandHandler = {
  states: SELECTED,
  expungeAllowed: false,
  async run(session, args) {
    const setText = args.atom('sequence set');
    const items = args.token('fetch items');
    const modifiers = args.optionalList() ?? [];
    args.end();
    return fetch(session, false, setText, items, modifiers, args.tag);
  },
};

export const uidFetch: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    const setText = args.atom('UID set');
    const items = args.token('fetch items');
    const modifiers = args.optionalList() ?? [];
    args.end();
    return fetch(session, true, setText, items, modifiers, args.tag);
  },
};
