import { BadCharsetError } from '../protocol/commands/search.js';
import { formatThreads, parseThread, threadOrderedSubject, threadReferences, type ThreadInput } from '../protocol/commands/thread.js';
import { matchingMessages } from './on-search.js';
import type { ImapSession } from './session.js';
import { no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * THREAD and UID THREAD (RFC 5256, ORDEREDSUBJECT and REFERENCES) over the selected mailbox: the
 * messages SEARCH would find, threaded by protocol/commands/thread.ts from the stored subject,
 * Message-ID, References (else In-Reply-To) and sent date (else the internal date).
 */
async function thread(session: ImapSession, tokens: Parameters<typeof parseThread>[0], tag: string, byUid: boolean): Promise<Reply> {
  let command;
  try {
    command = parseThread(tokens, tag);
  } catch (err) {
    if (err instanceof BadCharsetError) return no(`Charset ${err.message} is not supported`, 'BADCHARSET (UTF-8 US-ASCII)');
    throw err;
  }
  const matches = await matchingMessages(session, command.key);
  const fields = new Map((matches.length > 0 ? await session.services.messages.sortFields(session.userId, session.selected!.id) : []).map((f) => [f.uid, f]));
  const inputs = matches.map(({ row, seq }): ThreadInput => {
    const f = fields.get(row.uid);
    return {
      number: byUid ? row.uid : seq,
      messageId: f?.messageId ?? null,
      references: f && f.references.length > 0 ? f.references : f?.inReplyTo ? [f.inReplyTo] : [],
      subject: f?.subject ?? '',
      date: (row.sentDate ?? row.internalDate).getTime(),
    };
  });
  const threads = command.algorithm === 'REFERENCES' ? threadReferences(inputs) : threadOrderedSubject(inputs);
  await session.send(`* THREAD ${formatThreads(threads)}`.trimEnd());
  return ok(`${byUid ? 'UID ' : ''}THREAD completed`);
}

export const threadCommand: CommandHandler = {
  states: SELECTED,
  expungeAllowed: false,
  run: (session, args, command) => thread(session, command.args, args.tag, false),
};
export const uidThread: CommandHandler = {
  states: SELECTED,
  run: (session, args, command) => thread(session, command.args, args.tag, true),
};
