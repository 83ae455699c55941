/**
 * The message list of the open folder (or of a search) as state, and the pure changes to it: a
 * page loaded, a live event applied, an optimistic change to some messages. The live events
 * only carry ids, so a new message in this folder is fetched (the caller does) and merged with
 * `mergeNewer`. Search results are a snapshot: live events update and remove their rows but add none.
 */
import type { MessageListItemDto, UserEvent } from '@mailyard/core/contracts';

export interface ListState {
  /** The open folder; while searching, the folder to go back to. */
  mailboxId: number | null;
  /** The search whose results these are; null for the folder's own list. */
  query: string | null;
  items: MessageListItemDto[];
  nextCursor: string | null;
  /** The first page has not come yet. */
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
}

export const emptyList: ListState = { mailboxId: null, query: null, items: [], nextCursor: null, loading: true, loadingMore: false, error: null };

/**
 * Messages fetched after an event (a fresh first page, newest first): that page, in the server's
 * order, then the rows already listed below it. Mail is not always filed in the order it arrived
 * (the later message's event can come first), so a new row goes where its date puts it, not on top.
 */
export function mergeNewer(state: ListState, fresh: MessageListItemDto[]): ListState {
  const inFresh = new Set(fresh.map((m) => m.id));
  return { ...state, items: [...fresh, ...state.items.filter((m) => !inFresh.has(m.id))] };
}

export function appendPage(state: ListState, page: MessageListItemDto[], nextCursor: string | null): ListState {
  const known = new Set(state.items.map((m) => m.id));
  return { ...state, items: [...state.items, ...page.filter((m) => !known.has(m.id))], nextCursor, loadingMore: false };
}

export function patchMessage(state: ListState, id: number, patch: Partial<MessageListItemDto>): ListState {
  return patchMessages(state, [id], patch);
}

export function patchMessages(state: ListState, ids: readonly number[], patch: Partial<MessageListItemDto>): ListState {
  const which = new Set(ids);
  return { ...state, items: state.items.map((m) => (which.has(m.id) ? { ...m, ...patch } : m)) };
}

export function removeMessage(state: ListState, id: number): ListState {
  return removeMessages(state, [id]);
}

export function removeMessages(state: ListState, ids: readonly number[]): ListState {
  const which = new Set(ids);
  return { ...state, items: state.items.filter((m) => !which.has(m.id)) };
}

/** What IMAP flags mean on a row. */
function flagsPatch(flags: string[]): Partial<MessageListItemDto> {
  return { unread: !flags.includes('\\Seen'), starred: flags.includes('\\Flagged') };
}

/**
 * Applies a live event to the list. Returns the new state and whether the folder's newest
 * messages must be fetched (a message arrived in it).
 */
export function applyEvent(state: ListState, event: UserEvent): { state: ListState; fetchNewest: boolean } {
  if (state.query !== null) return { state: applySearchEvent(state, event), fetchNewest: false };
  const here = state.mailboxId;
  switch (event.type) {
    case 'message.new':
      return { state, fetchNewest: event.mailboxId === here };
    case 'message.flags':
      return { state: patchMessage(state, event.messageId, flagsPatch(event.flags)), fetchNewest: false };
    case 'message.moved':
      if (event.mailboxId === here) return { state, fetchNewest: true };
      return { state: event.fromMailboxId === here ? removeMessage(state, event.messageId) : state, fetchNewest: false };
    case 'message.deleted':
      return { state: event.mailboxId === here ? removeMessage(state, event.messageId) : state, fetchNewest: false };
    default:
      return { state, fetchNewest: false };
  }
}

/** Search results keep their rows where they went: a move changes the row's folder, a delete removes it. */
function applySearchEvent(state: ListState, event: UserEvent): ListState {
  switch (event.type) {
    case 'message.flags':
      return patchMessage(state, event.messageId, flagsPatch(event.flags));
    case 'message.moved':
      return patchMessage(state, event.messageId, { mailboxId: event.mailboxId });
    case 'message.deleted':
      return removeMessage(state, event.messageId);
    default:
      return state;
  }
}
