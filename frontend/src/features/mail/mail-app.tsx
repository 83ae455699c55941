/**
 * The mail screen: folders, the message list of the open folder (or of a search) and the
 * reader, side by side on a desktop and one at a time on a phone (`data-view` picks which;
 * styles.css). It keeps the folder list and the open list up to date from the live feed, and
 * runs every action on messages (one, a selection, from a toolbar, the right-click menu, a drop
 * on a folder or a key) through `perform`: the list changes first, then the API is asked, and
 * the list is put back with a notice if it says no. Deleting forever asks first. The keys are
 * the table in shortcuts.tsx. A folder's list can be grouped by conversation (conversations.ts,
 * remembered per user): a row then stands for all its messages in the folder, for every action,
 * and opens in the thread reader; a search always lists single messages. The reader gets the
 * spam actions ("Not spam" in Junk, else "Report spam" and "Block sender"); "Not spam" runs
 * through `perform` like the other actions.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { MailboxDto, Me, MessageListItemDto, UserEvent } from '@mailyard/core/contracts';
import { api, ApiError } from '../../api/client';
import { AccountName } from './account-name';
import { createMessagePrefetch } from './message-prefetch';
import { openCompose } from '../compose/compose-store';
import { SearchBox } from '../search/search-box';
import type { DeliveryEvent } from './delivery-strip';
import { groupConversations, groupsConversations, messageIdsOf, rememberGrouping, rowIdOf } from './conversations';
import { FolderList, folderName } from './folder-list';
import { ScheduledList } from './scheduled-list';
import { appendPage, applyEvent, emptyList, mergeNewer, patchMessages, removeMessages, type ListState } from './list-state';
import { ActionMenu, actionsFor, BulkBar, ConfirmDialog, isEmptyable, moveTargets, type MailAction } from './mail-actions';
import { MessageList, type RowConversation } from './message-list';
import { Reader } from './reader';
import { noSelection, pruneSelection, selectRange, toggleSelected, type Selection } from './selection';
import { commandFor, keyOf, ShortcutsOverlay, type ShortcutCommand } from './shortcuts';
import { ThreadReader } from './thread-reader';
import { useLiveEvents } from './use-live-events';

interface MailAppProps {
  me: Me;
  /** Changes when the user signed in again after the session expired: everything is reloaded. */
  epoch: number;
  /** The session expired: the screen stays as it is, under the sign-in dialog. */
  inert: boolean;
  onSettings(): void;
  /** Opens the admin panel; absent for users without one. */
  onAdmin?(): void;
  onSignOut(): void;
}

type View = 'folders' | 'list' | 'reader';
interface Confirm {
  title: string;
  body: string;
  confirmLabel: string;
  run(): void;
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.message : 'Something went wrong. Try again.';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The list a state shows: a folder's or a search's. */
function fetchPage(state: Pick<ListState, 'mailboxId' | 'query'>, cursor?: string | null) {
  return state.query !== null ? api.search(state.query, cursor) : api.messages(state.mailboxId!, cursor);
}

function sameList(a: Pick<ListState, 'mailboxId' | 'query'>, b: Pick<ListState, 'mailboxId' | 'query'>): boolean {
  return a.mailboxId === b.mailboxId && a.query === b.query;
}

function callFor(action: MailAction, ids: number[]): Promise<unknown> {
  switch (action.kind) {
    case 'flags':
      return api.setFlags({ ids, read: action.read, starred: action.starred });
    case 'move':
      return api.move({ ids, mailboxId: action.mailboxId });
    case 'archive':
      return api.archive({ ids });
    case 'trash':
      return api.trash({ ids });
    case 'restore':
      return api.restore({ ids });
    case 'delete':
      return api.deleteForever({ ids });
    case 'notSpam':
      return Promise.all(ids.map((id) => api.notSpam(id, { allowSender: action.allowSender })));
  }
}

export function MailApp({ me, epoch, inert, onSettings, onAdmin, onSignOut }: MailAppProps) {
  const [mailboxes, setMailboxes] = useState<MailboxDto[]>([]);
  const [foldersError, setFoldersError] = useState<string | null>(null);
  const [list, setList] = useState<ListState>(emptyList);
  const [cursor, setCursor] = useState(0);
  const [openId, setOpenId] = useState<number | null>(null);
  const [view, setView] = useState<View>('list');
  /** The "Scheduled" view replaces the message list while it is open. */
  const [scheduledOpen, setScheduledOpen] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [selection, setSelection] = useState<Selection>(noSelection);
  const [menu, setMenu] = useState<{ x: number; y: number; ids: number[] } | null>(null);
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [help, setHelp] = useState(false);
  const [deliveryEvent, setDeliveryEvent] = useState<DeliveryEvent | null>(null);
  const searchInput = useRef<HTMLInputElement>(null);
  const pendingKey = useRef<string | null>(null);
  const listRef = useRef(list);
  listRef.current = list;
  /** Counts the live events about messages, so a first page can tell that mail changed while it was on its way. */
  const messageEvents = useRef(0);
  const openRef = useRef(openId);
  openRef.current = openId;
  const [grouped, setGrouped] = useState(() => groupsConversations(me.id));
  // A message's GET starts as it is opened, not once the reader has rendered (message-prefetch.ts).
  const messages = useMemo(() => createMessagePrefetch(api.message), []);
  /** The conversations of a folder's list when grouped; null when rows are single messages. */
  const conversations = useMemo(() => (grouped && list.query === null ? groupConversations(list.items) : null), [grouped, list.query, list.items]);
  const rows = useMemo(() => (conversations ? conversations.map((c) => c.row) : list.items), [conversations, list.items]);
  const rowConversations = useMemo(() => (conversations ? new Map<number, RowConversation>(conversations.map((c) => [c.row.id, { count: c.ids.length, senders: c.senders }])) : undefined), [conversations]);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  /** The messages that rows stand for. */
  const messageIds = useCallback((rowIds: Iterable<number>) => (conversations ? messageIdsOf(conversations, rowIds) : [...rowIds]), [conversations]);

  const loadMailboxes = useCallback(async () => {
    try {
      const { mailboxes: all } = await api.mailboxes();
      setMailboxes(all);
      setFoldersError(null);
      setList((l) => (l.mailboxId === null || !all.some((m) => m.id === l.mailboxId) ? { ...emptyList, mailboxId: all.find((m) => m.specialUse === '\\Inbox')?.id ?? all[0]?.id ?? null } : l));
    } catch (err) {
      setFoldersError(describe(err));
    }
  }, []);

  /**
   * Loads the list's first page in place of what it shows. A page asked for before a live event may
   * miss what the event announced (and the newer rows the event fetched, arriving first, would be
   * replaced), so when message events came while it was on its way, the page is asked for again.
   */
  const loadFirstPage = useCallback(async (source: Pick<ListState, 'mailboxId' | 'query'>): Promise<void> => {
    const eventsBefore = messageEvents.current;
    try {
      const page = await fetchPage(source);
      setList((l) => (sameList(l, source) ? { ...l, items: page.messages, nextCursor: page.nextCursor, loading: false, error: null } : l));
    } catch (err) {
      setList((l) => (sameList(l, source) ? { ...l, loading: false, error: describe(err) } : l));
      return;
    }
    if (messageEvents.current !== eventsBefore && sameList(listRef.current, source)) void loadFirstPage(source);
  }, []);

  const loadMore = useCallback(async () => {
    const source = listRef.current;
    if (source.mailboxId === null || !source.nextCursor || source.loadingMore) return;
    setList((l) => ({ ...l, loadingMore: true, error: null }));
    try {
      const page = await fetchPage(source, source.nextCursor);
      setList((l) => (sameList(l, source) ? appendPage(l, page.messages, page.nextCursor) : l));
    } catch (err) {
      setList((l) => (sameList(l, source) ? { ...l, loadingMore: false, error: describe(err) } : l));
    }
  }, []);

  const fetchNewest = useCallback(async (source: Pick<ListState, 'mailboxId' | 'query'>) => {
    try {
      const page = await fetchPage(source);
      setList((l) => (sameList(l, source) ? mergeNewer(l, page.messages) : l));
    } catch {
      // the next event or a reload brings them; the list stays as it is
    }
  }, []);

  useEffect(() => {
    if (!inert) void loadMailboxes();
  }, [loadMailboxes, epoch, inert]);

  useEffect(() => {
    if (list.mailboxId !== null && !inert) void loadFirstPage({ mailboxId: list.mailboxId, query: list.query });
    // only when the list changes or after signing in again (inert is read, not a trigger)
  }, [list.mailboxId, list.query, epoch, loadFirstPage]);

  // Selected rows that left the list are no longer selected.
  useEffect(() => setSelection((s) => pruneSelection(s, rows)), [rows]);

  // A conversation's row is its newest message: when a newer one arrives, the open row follows it.
  useEffect(() => {
    if (!conversations || openId === null || conversations.some((c) => c.row.id === openId)) return;
    const row = rowIdOf(conversations, openId);
    if (row !== null) setOpenId(row);
  }, [conversations, openId]);

  const onEvent = useCallback(
    (event: UserEvent) => {
      if (event.type === 'mailbox.counts') {
        setMailboxes((all) => all.map((m) => (m.id === event.mailboxId ? { ...m, total: event.total, unread: event.unread } : m)));
        return;
      }
      if (event.type === 'mailbox.created' || event.type === 'mailbox.renamed' || event.type === 'mailbox.deleted') {
        void loadMailboxes();
        return;
      }
      if (event.type === 'delivery.status') {
        setDeliveryEvent(event);
        return;
      }
      messageEvents.current += 1;
      // Applied to the latest state, not the last rendered one: a page that came in just before
      // this event may not have been rendered yet.
      setList((l) => applyEvent(l, event).state);
      const shown = listRef.current;
      if (applyEvent(shown, event).fetchNewest && shown.mailboxId !== null) void fetchNewest(shown);
    },
    [loadMailboxes, fetchNewest],
  );
  const onResync = useCallback(() => {
    void loadMailboxes();
    if (listRef.current.mailboxId !== null) void loadFirstPage(listRef.current);
  }, [loadMailboxes, loadFirstPage]);
  const live = useLiveEvents(!inert, onEvent, onResync);

  const inbox = mailboxes.find((m) => m.specialUse === '\\Inbox');
  useEffect(() => {
    document.title = inbox && inbox.unread > 0 ? `(${inbox.unread}) Inbox — Mailyard` : 'Mailyard';
  }, [inbox]);

  const showList = (next: ListState) => {
    setScheduledOpen(false);
    setList(next);
    setCursor(0);
    setOpenId(null);
    setSelection(noSelection);
    setView('list');
  };
  const selectFolder = (id: number) => {
    setView('list');
    if (id === list.mailboxId && list.query === null && !scheduledOpen) return;
    showList({ ...emptyList, mailboxId: id });
  };

  /** Runs an action on messages: the list first, then the API; put back with a notice on failure. */
  const perform = useCallback(async (ids: number[], action: MailAction) => {
    if (ids.length === 0) return;
    const snapshot = listRef.current;
    const which = new Set(ids);
    const affected = snapshot.items.filter((m) => which.has(m.id));
    if (action.kind === 'flags') {
      const local: Partial<MessageListItemDto> = {};
      if (action.read !== undefined) local.unread = !action.read;
      if (action.starred !== undefined) local.starred = action.starred;
      setList((l) => patchMessages(l, ids, local));
      if (action.read !== undefined) {
        const changed = affected.filter((m) => m.unread === action.read);
        setMailboxes((all) => all.map((mb) => ({ ...mb, unread: Math.max(0, mb.unread + (action.read ? -1 : 1) * changed.filter((m) => m.mailboxId === mb.id).length) })));
      }
    } else {
      setList((l) => removeMessages(l, ids));
      const open = openRef.current;
      const shown = rowsRef.current;
      if (open !== null && which.has(open)) {
        const index = shown.findIndex((m) => m.id === open);
        const next = shown.slice(index + 1).find((m) => !which.has(m.id)) ?? shown.slice(0, index).reverse().find((m) => !which.has(m.id));
        setOpenId(next?.id ?? null);
        if (!next) setView('list');
      }
    }
    try {
      await callFor(action, ids);
    } catch (err) {
      setList((l) => {
        if (!sameList(l, snapshot)) return l;
        if (action.kind !== 'flags') return snapshot;
        const before = new Map(affected.map((m) => [m.id, m]));
        return { ...l, items: l.items.map((m) => (before.has(m.id) ? { ...m, unread: before.get(m.id)!.unread, starred: before.get(m.id)!.starred } : m)) };
      });
      void loadMailboxes();
      setNotice(describe(err));
    }
  }, [loadMailboxes]);

  // Keep the keyboard row on the open message (and in range) as the list changes.
  useEffect(() => {
    const index = openId === null ? -1 : rows.findIndex((m) => m.id === openId);
    setCursor((c) => (index >= 0 ? index : Math.min(c, Math.max(0, rows.length - 1))));
  }, [rows, openId]);

  /** Deleting forever asks first; everything else runs at once. */
  const request = useCallback(
    (ids: number[], action: MailAction) => {
      if (action.kind !== 'delete') return void perform(ids, action);
      setConfirm({
        title: 'Delete forever?',
        body: `${plural(ids.length, 'message')} will be deleted forever. This cannot be undone.`,
        confirmLabel: 'Delete forever',
        run: () => void perform(ids, action),
      });
    },
    [perform],
  );

  const open = useCallback(
    (message: MessageListItemDto, index: number) => {
      messages.prefetch(message.id);
      setCursor(index);
      setOpenId(message.id);
      setView('reader');
      if (!message.unread) return;
      const ids = new Set(messageIds([message.id]));
      const unread = listRef.current.items.filter((m) => ids.has(m.id) && m.unread).map((m) => m.id);
      void perform(unread, { kind: 'flags', read: true });
    },
    [perform, messageIds, messages],
  );

  const closeMenu = useCallback(() => setMenu(null), []);
  const current = list.query === null ? mailboxes.find((m) => m.id === list.mailboxId) : undefined;
  const selectedItems = rows.filter((m) => selection.ids.has(m.id));
  const targets = moveTargets(mailboxes, current);

  /** What the keys act on: the selection, else the row the keyboard is on. */
  const keyTargets = (): MessageListItemDto[] => {
    if (selectedItems.length > 0) return selectedItems;
    const row = rows[cursor];
    return row ? [row] : [];
  };

  const runCommand = (command: ShortcutCommand): boolean => {
    // The Scheduled view has no message rows: only the commands that leave it or help apply.
    if (scheduledOpen && !['search', 'goInbox', 'help'].includes(command)) return false;
    const items = rows;
    const targetsNow = keyTargets();
    const ids = messageIds(targetsNow.map((m) => m.id));
    const byShortcut = (key: string) => actionsFor(current, targetsNow).find((a) => a.shortcut === key)?.action;
    switch (command) {
      case 'search':
        searchInput.current?.focus();
        return true;
      case 'next':
      case 'previous': {
        const nextIndex = Math.min(Math.max(cursor + (command === 'next' ? 1 : -1), 0), items.length - 1);
        setCursor(nextIndex);
        const next = items[nextIndex];
        if (openId !== null && next) open(next, nextIndex);
        return true;
      }
      case 'open':
        if (items[cursor]) open(items[cursor], cursor);
        return true;
      case 'back':
        setOpenId(null);
        setView('list');
        return true;
      case 'select':
        if (items[cursor]) setSelection((s) => toggleSelected(s, items[cursor]!.id));
        return true;
      case 'archive':
      case 'delete': {
        const action = byShortcut(command === 'archive' ? 'e' : '#');
        if (action) request(ids, action);
        return true;
      }
      case 'star':
        if (ids.length > 0) void perform(ids, { kind: 'flags', starred: !targetsNow.every((m) => m.starred) });
        return true;
      case 'markRead':
      case 'markUnread':
        if (ids.length > 0) void perform(ids, { kind: 'flags', read: command === 'markRead' });
        return true;
      case 'goInbox':
        if (inbox) selectFolder(inbox.id);
        return true;
      case 'help':
        setHelp(true);
        return true;
      default:
        return false;
    }
  };
  const runCommandRef = useRef(runCommand);
  runCommandRef.current = runCommand;

  const blocked = inert || help || confirm !== null || menu !== null;
  useEffect(() => {
    if (blocked) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented) return;
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      if (e.key === 'Enter' && (target?.tagName === 'BUTTON' || target?.tagName === 'A')) return;
      const key = keyOf(e);
      if (key === null) return;
      const command = commandFor(key, pendingKey.current);
      pendingKey.current = command === 'pending' ? key : null;
      if (command === 'pending') {
        e.preventDefault();
        return;
      }
      if (command && runCommandRef.current(command)) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [blocked]);

  const createFolder = async (name: string) => {
    try {
      await api.createMailbox(name);
      await loadMailboxes();
    } catch (err) {
      setNotice(describe(err));
      throw err;
    }
  };
  const renameFolder = async (id: number, name: string) => {
    try {
      await api.renameMailbox(id, name);
      await loadMailboxes();
    } catch (err) {
      setNotice(describe(err));
      throw err;
    }
  };
  const deleteFolder = (folder: MailboxDto) =>
    setConfirm({
      title: `Delete the folder “${folder.name}”?`,
      body: folder.total > 0 ? `Its ${plural(folder.total, 'message')} will be deleted forever with it.` : 'The folder is empty.',
      confirmLabel: 'Delete folder',
      run: () =>
        void api.deleteMailbox(folder.id).then(
          () => loadMailboxes(),
          (err: unknown) => setNotice(describe(err)),
        ),
    });
  const emptyFolder = (folder: MailboxDto) =>
    setConfirm({
      title: `Empty ${folderName(folder)}?`,
      body: `${plural(folder.total, 'message')} will be deleted forever. This cannot be undone.`,
      confirmLabel: `Empty ${folderName(folder)}`,
      run: () => {
        const snapshot = listRef.current;
        setList((l) => (sameList(l, { mailboxId: folder.id, query: null }) ? { ...l, items: [], nextCursor: null } : l));
        setOpenId(null);
        api.emptyMailbox(folder.id).catch((err: unknown) => {
          setList((l) => (sameList(l, snapshot) ? snapshot : l));
          setNotice(describe(err));
        });
      },
    });

  const junk = mailboxes.find((m) => m.specialUse === '\\Junk');
  /** The user's own mail: nothing to report or block. */
  const ownMail = current?.specialUse === '\\Sent' || current?.specialUse === '\\Drafts';
  /** What the reader offers about spam: Junk explained with "Not spam", else "Report spam" and "Block sender". */
  const spam = {
    junkMailboxId: junk?.id,
    onNotSpam: (id: number, allowSender: boolean) => void perform([id], { kind: 'notSpam', allowSender }),
    onReportSpam: junk && !ownMail ? (id: number) => void perform([id], { kind: 'move', mailboxId: junk.id }) : undefined,
    blockSender: ownMail
      ? undefined
      : async (address: string) => {
          const { sender } = await api.addSenderRule({ kind: 'block', pattern: address });
          return () => api.removeSenderRule(sender.id);
        },
  };
  const openMessage = rows.find((m) => m.id === openId);
  const openConversation = conversations?.find((c) => c.row.id === openId);
  const sentFolder = mailboxes.find((m) => m.specialUse === '\\Sent');
  const switchGrouping = () => {
    rememberGrouping(me.id, !grouped);
    setGrouped(!grouped);
    setSelection(noSelection);
  };
  const listTitle = list.query !== null ? `Search: ${list.query}` : current ? folderName(current) : '';

  return (
    <div className="mail" data-view={view} inert={inert}>
      <header className="topbar">
        <button type="button" className="back phone-only" onClick={() => setView('folders')} aria-label="Folders">
          ☰
        </button>
        <span className="brand-name">Mailyard</span>
        <SearchBox
          userId={me.id}
          active={list.query}
          inputRef={searchInput}
          onSearch={(q) => showList({ ...emptyList, mailboxId: list.mailboxId, query: q })}
          onClear={() => showList({ ...emptyList, mailboxId: list.mailboxId })}
        />
        {live === 'reconnecting' && (
          <span className="live-status" role="status">
            Reconnecting…
          </span>
        )}
        <span className="spacer" />
        <button type="button" className="shortcuts-button" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
          ?
        </button>
        {onAdmin && (
          <button type="button" onClick={onAdmin}>
            Admin
          </button>
        )}
        <button type="button" onClick={onSettings}>
          Settings
        </button>
        <AccountName address={me.address} />
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {notice && (
        <div className="toast" role="alert">
          {notice}
          <button type="button" onClick={() => setNotice(null)} aria-label="Dismiss">
            ✕
          </button>
        </div>
      )}
      <aside className="pane folders-pane">
        {foldersError ? (
          <div className="error-block" role="alert">
            <p>{foldersError}</p>
            <button type="button" onClick={() => void loadMailboxes()}>
              Retry
            </button>
          </div>
        ) : (
          <FolderList
            mailboxes={mailboxes}
            selectedId={list.query === null && !scheduledOpen ? list.mailboxId : null}
            onSelect={selectFolder}
            onDropMessages={(ids, mailboxId) => void perform(messageIds(ids), { kind: 'move', mailboxId })}
            onCreate={createFolder}
            onRename={renameFolder}
            onDelete={deleteFolder}
            scheduled={{
              selected: scheduledOpen,
              onSelect: () => {
                setOpenId(null);
                setSelection(noSelection);
                setScheduledOpen(true);
                setView('list');
              },
            }}
          />
        )}
      </aside>
      <section className="pane list-pane" aria-label="Message list">
        {scheduledOpen ? (
          <>
            <div className="list-header">
              <h1 className="pane-title">Scheduled</h1>
            </div>
            <ScheduledList load={api.scheduled} cancel={api.cancelScheduled} onEdit={(message) => openCompose({ kind: 'restore', message })} />
          </>
        ) : (
          <>
            <div className="list-header">
              <h1 className="pane-title">{listTitle}</h1>
              {list.query === null && (
                <button type="button" className="grouping" aria-pressed={grouped} onClick={switchGrouping} title={grouped ? 'Show single messages' : 'Group messages by conversation'}>
                  Conversations
                </button>
              )}
              {isEmptyable(current) && current!.total > 0 && (
                <button type="button" onClick={() => emptyFolder(current!)}>
                  Empty {folderName(current!)}
                </button>
              )}
            </div>
            {selectedItems.length > 0 && (
              <BulkBar
                count={selectedItems.length}
                actions={actionsFor(current, selectedItems)}
                targets={targets}
                onAction={(action) => request(messageIds(selectedItems.map((m) => m.id)), action)}
                onClear={() => setSelection(noSelection)}
              />
            )}
            <MessageList
              items={rows}
              conversations={rowConversations}
              folderName={list.query !== null ? 'the results' : current ? folderName(current) : 'this folder'}
              loading={list.loading}
              loadingMore={list.loadingMore}
              hasMore={list.nextCursor !== null}
              error={list.error}
              cursor={cursor}
              openId={openId}
              onOpen={open}
              onLoadMore={loadMore}
              onRetry={() => (list.items.length === 0 && list.mailboxId !== null ? void loadFirstPage(list) : void loadMore())}
              selected={selection.ids}
              onSelect={(message, mode) => setSelection((s) => (mode === 'range' ? selectRange(s, rowsRef.current, message.id) : toggleSelected(s, message.id)))}
              onContextMenu={(message, x, y) => {
                const ids = selection.ids.has(message.id) ? [...selection.ids] : [message.id];
                if (!selection.ids.has(message.id)) setSelection(noSelection);
                setMenu({ x, y, ids });
              }}
            />
          </>
        )}
      </section>
      <section className="pane reader-pane" aria-label="Reader">
        {openConversation ? (
          <ThreadReader
            key={openConversation.threadId}
            threadId={openConversation.threadId}
            version={openConversation.ids.join(',')}
            userId={me.id}
            loadThread={api.thread}
            load={messages.load}
            loadSource={api.source}
            loadDelivery={api.delivery}
            isSent={(m) => m.mailboxId === sentFolder?.id}
            deliveryEvent={deliveryEvent}
            onBack={() => {
              setOpenId(null);
              setView('list');
            }}
            onStar={(id, starred) => void perform([id], { kind: 'flags', starred })}
            onArchive={current?.specialUse === '\\Archive' ? undefined : () => void perform(openConversation.ids, { kind: 'archive' })}
            onTrash={isEmptyable(current) ? undefined : () => void perform(openConversation.ids, { kind: 'trash' })}
            spam={spam}
          />
        ) : openId !== null ? (
          <Reader
            key={openId}
            messageId={openId}
            userId={me.id}
            load={messages.load}
            loadSource={api.source}
            loadDelivery={current?.specialUse === '\\Sent' ? api.delivery : undefined}
            deliveryEvent={deliveryEvent}
            starred={openMessage?.starred ?? false}
            onBack={() => {
              setOpenId(null);
              setView('list');
            }}
            onStar={(id, starred) => void perform([id], { kind: 'flags', starred })}
            onArchive={current?.specialUse === '\\Archive' ? undefined : (id) => void perform([id], { kind: 'archive' })}
            onTrash={isEmptyable(current) ? undefined : (id) => void perform([id], { kind: 'trash' })}
            {...spam}
          />
        ) : (
          <p className="empty">Select a message to read it.</p>
        )}
      </section>
      {menu && (
        <ActionMenu
          x={menu.x}
          y={menu.y}
          actions={actionsFor(current, rows.filter((m) => menu.ids.includes(m.id)))}
          targets={targets}
          onAction={(action) => request(messageIds(menu.ids), action)}
          onClose={closeMenu}
        />
      )}
      {confirm && (
        <ConfirmDialog
          title={confirm.title}
          body={confirm.body}
          confirmLabel={confirm.confirmLabel}
          onCancel={() => setConfirm(null)}
          onConfirm={() => {
            setConfirm(null);
            confirm.run();
          }}
        />
      )}
      {help && <ShortcutsOverlay onClose={() => setHelp(false)} />}
    </div>
  );
}
