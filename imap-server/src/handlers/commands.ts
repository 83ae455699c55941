import { append } from './on-append.js';
import { copy, move, uidCopy, uidMove } from './on-copy-move.js';
import { fetchCommand, uidFetch } from './on-fetch.js';
import { idle } from './on-idle.js';
import { authenticate, login } from './on-login.js';
import { create, deleteMailbox, list, lsub, rename, status, subscribe, unsubscribe } from './on-mailboxes.js';
import { getQuota, getQuotaRoot, setQuota } from './on-quota.js';
import { searchCommand, uidSearch } from './on-search.js';
import { sortCommand, uidSort } from './on-sort.js';
import { threadCommand, uidThread } from './on-thread.js';
import { close, examine, expungeCommand, select, uidExpunge, unselect } from './on-select.js';
import { capability, check, compress, enable, id, logout, namespace, noop, starttls } from './on-session.js';
import { storeCommand, uidStore } from './on-store.js';
import type { CommandHandler } from './types.js';

/** Every command the server knows, by name as parsed (`UID FETCH` for UID commands). */
export const COMMANDS: Readonly<Record<string, CommandHandler>> = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  ENABLE: enable,
  NAMESPACE: namespace,
  STARTTLS: starttls,
  COMPRESS: compress,
  LOGIN: login,
  AUTHENTICATE: authenticate,
  LIST: list,
  LSUB: lsub,
  STATUS: status,
  GETQUOTAROOT: getQuotaRoot,
  GETQUOTA: getQuota,
  SETQUOTA: setQuota,
  CREATE: create,
  DELETE: deleteMailbox,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  SELECT: select,
  EXAMINE: examine,
  CLOSE: close,
  UNSELECT: unselect,
  CHECK: check,
  EXPUNGE: expungeCommand,
  'UID EXPUNGE': uidExpunge,
  FETCH: fetchCommand,
  'UID FETCH': uidFetch,
  STORE: storeCommand,
  'UID STORE': uidStore,
  COPY: copy,
  'UID COPY': uidCopy,
  MOVE: move,
  'UID MOVE': uidMove,
  SEARCH: searchCommand,
  'UID SEARCH': uidSearch,
  SORT: sortCommand,
  'UID SORT': uidSort,
  THREAD: threadCommand,
  'UID THREAD': uidThread,
  APPEND: append,
  IDLE: idle,
};
