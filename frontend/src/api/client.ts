/**
 * The typed API client. Every request and response type is one of `@mailyard/core/contracts`
 * (types only: nothing of zod reaches the bundle). Requests carry the session cookie and, on
 * writes, the session's CSRF token; an error answer `{ error: { code, message } }` becomes an
 * `ApiError` whose message is in words a user understands. A 401 on a signed-in request tells
 * the app (onSessionExpired) so it can ask for the password again without losing the screen.
 */
import type {
  AccountImportResult,
  AccountSettings,
  AccountSettingsBody,
  AccountUsage,
  AppPasswordCreateBody,
  AppPasswordCreated,
  AppPasswordListResponse,
  ChangePasswordBody,
  ContactsResponse,
  DraftBody,
  DraftIdResponse,
  ErrorResponse,
  LoginBody,
  LoginResponse,
  MailboxDeleteResponse,
  MailboxDto,
  MailboxListResponse,
  Me,
  MessageDeleteResponse,
  MessageDetailDto,
  MessageFlagsBody,
  MessageIdsBody,
  MessageListResponse,
  MessageMoveBody,
  MessageOpResponse,
  NotSpamBody,
  NotSpamResponse,
  OutboundDto,
  ScheduledSendDto,
  ScheduledSendListResponse,
  SearchResponse,
  SendBody,
  SendResponse,
  SenderRuleBody,
  SenderRuleResponse,
  SenderRulesResponse,
  ThreadResponse,
  TotpCodeBody,
  TotpDisableBody,
  TotpSetupBody,
  TotpSetup,
  TotpStatus,
  UploadDto,
} from '@mailyard/core/contracts';
import type {
  AdminAliasBody,
  AdminAliasDto,
  AdminAliasListResponse,
  AdminAuditListResponse,
  AdminDkimRotateResponse,
  AdminDnsResponse,
  AdminDomainDto,
  AdminDomainListResponse,
  AdminOutboundListResponse,
  AdminQueuedDeliveryDto,
  AdminStatsResponse,
  AdminUserCreateBody,
  AdminUserDto,
  AdminUserListResponse,
  AdminUserPatchBody,
  OkResponse,
} from '@mailyard/core/contracts';

/** What the user is told, by error code; anything else falls back to the status. */
const friendly: Record<string, string> = {
  'auth.invalid': 'That address and password do not match.',
  'auth.rate_limited': 'Too many attempts. Wait a few minutes, then try again.',
  'auth.required': 'Your session has ended. Sign in again to continue.',
  'auth.mfa_required': 'Enter the code from your authenticator app.',
  'auth.csrf': 'Your session changed in another tab. Reload the page.',
  'totp.invalid': 'That code is not right. Check your authenticator app and try again.',
  'totp.replayed': 'That code was already used. Wait for the next one.',
  'totp.already_enabled': 'Two-step sign-in is already on.',
  'totp.not_enabled': 'Two-step sign-in is not on.',
  'totp.not_set_up': 'The authenticator setup was replaced. Start the setup again.',
  'app_password.exists': 'An app password with that name already exists. Pick another name.',
  'app_password.limit': 'You have the most app passwords allowed. Revoke one first.',
  'app_password.not_found': 'That app password was already revoked.',
  'mailbox.not_found': 'This folder no longer exists.',
  'message.not_found': 'This message was moved or deleted.',
  'message.unavailable': 'This message cannot be shown right now.',
  'request.invalid': 'Some of what you entered is not valid.',
  'mailbox.exists': 'A folder with that name already exists.',
  'mailbox.name_invalid': 'That folder name cannot be used.',
  'mailbox.protected': 'This folder belongs to the system and cannot be changed.',
  'message.not_in_trash': 'Only messages in Trash or Junk can be deleted forever.',
  'outbound.not_found': 'There is no delivery record for this message.',
  'search.invalid': 'That search could not be understood.',
  'send.invalid_address': 'One of the recipients is not a valid address.',
  'send.no_recipients': 'Add at least one recipient.',
  'send.rate_limited': 'You have sent a lot of mail this hour. Try again later; your message is kept.',
  'send.schedule_invalid': 'Choose a send time from now to a year ahead.',
  'scheduled.not_pending': 'Too late: the message has already been sent.',
  'upload.too_large': 'That file is too large to attach.',
  'draft.not_found': 'The draft was deleted elsewhere; it will be saved again.',
  'draft.rate_limited': 'Drafts are being saved too often. Wait a moment; your text is kept.',
  'message.too_large': 'The message is too large with its attachments. Remove some attachments and try again.',
  'quota.exceeded': 'Your mailbox is full. Delete some mail and empty the Trash to make room.',
  'import.invalid': 'That file is not an mbox file. Pick a .mbox file, such as an export from here or from Thunderbird.',
  'import.too_large': 'That file is too large to import here. Split it, or ask your administrator to import it.',
  'import.in_progress': 'An import is already running for your mailbox. Wait until it has finished.',
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Trying again can help: the network, the server, or a rate limit. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** An error answer (or a failed fetch) as an ApiError in plain words. */
export function toApiError(status: number, body: unknown): ApiError {
  const error = (body as Partial<ErrorResponse> | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : status === 0 ? 'network' : 'http';
  let message = friendly[code];
  if (!message && code === 'network') message = 'Cannot reach the server. Check your connection and try again.';
  if (!message && status >= 500) message = 'The server had a problem. Try again in a moment.';
  if (!message && status === 429) message = 'Too many requests. Wait a moment, then try again.';
  if (!message) message = error?.message ? capitalize(error.message) : `Something went wrong (${status}).`;
  return new ApiError(status, code, message, (body as Partial<ErrorResponse> | null)?.requestId ?? null);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');
}

let csrfToken: string | null = null;
let sessionExpired: (() => void) | null = null;

/** The token from the sign-in answer or GET /api/me, sent as `x-csrf-token` on writes. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a signed-in request answers 401 (the session expired or was revoked). */
export function onSessionExpired(handler: (() => void) | null): void {
  sessionExpired = handler;
}

interface RequestOptions {
  body?: unknown;
  /** A 401 here is an answer, not an expired session (sign-in, the first GET /api/me). */
  anonymous?: boolean;
  /** The answer is text (a message's source), not JSON. */
  text?: boolean;
  headers?: Record<string, string>;
}

async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch {
    throw toApiError(0, null);
  }
  if (res.status === 204) return undefined as T;
  if (res.ok && options.text) return (await res.text()) as T;
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const error = toApiError(res.status, data);
    if (res.status === 401 && !options.anonymous && error.code !== 'auth.invalid') sessionExpired?.();
    throw error;
  }
  return data as T;
}

export const api = {
  me: (options: { anonymous?: boolean } = {}) => request<Me>('GET', '/api/me', options),
  login: (body: LoginBody) => request<LoginResponse>('POST', '/api/auth/login', { body, anonymous: true }),
  totp: (body: TotpCodeBody) => request<Me>('POST', '/api/auth/totp', { body, anonymous: true }),
  logout: () => request<void>('POST', '/api/auth/logout', { anonymous: true }),
  mailboxes: () => request<MailboxListResponse>('GET', '/api/mailboxes'),
  messages: (mailboxId: number, cursor?: string | null, limit = 50) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return request<MessageListResponse>('GET', `/api/mailboxes/${mailboxId}/messages?${query}`);
  },
  message: (id: number, remoteImages = false) => request<MessageDetailDto>('GET', `/api/messages/${id}${remoteImages ? '?remoteImages=1' : ''}`),
  setFlags: (body: MessageFlagsBody) => request<MessageOpResponse>('POST', '/api/messages/flags', { body }),
  archive: (body: MessageIdsBody) => request<MessageOpResponse>('POST', '/api/messages/archive', { body }),
  trash: (body: MessageIdsBody) => request<MessageOpResponse>('POST', '/api/messages/trash', { body }),
  move: (body: MessageMoveBody) => request<MessageOpResponse>('POST', '/api/messages/move', { body }),
  restore: (body: MessageIdsBody) => request<MessageOpResponse>('POST', '/api/messages/restore', { body }),
  /** Forever: only from Trash or Junk. */
  deleteForever: (body: MessageIdsBody) => request<MessageDeleteResponse>('POST', '/api/messages/delete', { body }),
  createMailbox: (name: string) => request<MailboxDto>('POST', '/api/mailboxes', { body: { name } }),
  renameMailbox: (id: number, name: string) => request<MailboxDto>('PATCH', `/api/mailboxes/${id}`, { body: { name } }),
  deleteMailbox: (id: number) => request<MailboxDeleteResponse>('DELETE', `/api/mailboxes/${id}`),
  emptyMailbox: (id: number) => request<MessageDeleteResponse>('POST', `/api/mailboxes/${id}/empty`),
  search: (q: string, cursor?: string | null, limit = 50) => {
    const query = new URLSearchParams({ q, limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return request<SearchResponse>('GET', `/api/search?${query}`);
  },
  thread: (threadId: number) => request<ThreadResponse>('GET', `/api/threads/${threadId}`),
  /** The message as stored (headers and body), as text. */
  source: (id: number) => request<string>('GET', `/api/messages/${id}/raw`, { text: true }),
  delivery: (id: number) => request<OutboundDto>('GET', `/api/messages/${id}/delivery`),
  /** Moves a message to the Inbox and teaches the filter it is not spam; `allowSender` also allow-lists its sender. */
  notSpam: (id: number, body: NotSpamBody) => request<NotSpamResponse>('POST', `/api/messages/${id}/not-spam`, { body }),
  /** The user's allow and block lists of senders. */
  senderRules: () => request<SenderRulesResponse>('GET', '/api/filters/senders'),
  addSenderRule: (body: SenderRuleBody) => request<SenderRuleResponse>('POST', '/api/filters/senders', { body }),
  removeSenderRule: (id: number) => request<void>('DELETE', `/api/filters/senders/${id}`),
  /** Signs out the user's other sessions and revokes their app passwords. */
  changePassword: (body: ChangePasswordBody) => request<void>('POST', '/api/account/password', { body }),
  totpStatus: () => request<TotpStatus>('GET', '/api/account/totp'),
  totpSetup: (body: TotpSetupBody) => request<TotpSetup>('POST', '/api/account/totp/setup', { body }),
  /** Signs out the user's other sessions. */
  totpEnable: (body: TotpCodeBody) => request<void>('POST', '/api/account/totp/enable', { body }),
  totpDisable: (body: TotpDisableBody) => request<void>('POST', '/api/account/totp/disable', { body }),
  appPasswords: () => request<AppPasswordListResponse>('GET', '/api/account/app-passwords'),
  /** Needs the account password; the answer is the only time the app password is shown. */
  createAppPassword: (body: AppPasswordCreateBody) => request<AppPasswordCreated>('POST', '/api/account/app-passwords', { body }),
  revokeAppPassword: (id: number) => request<void>('DELETE', `/api/account/app-passwords/${id}`),
  accountSettings: () => request<AccountSettings>('GET', '/api/account/settings'),
  saveAccountSettings: (body: AccountSettingsBody) => request<AccountSettings>('PATCH', '/api/account/settings', { body }),
  accountUsage: () => request<AccountUsage>('GET', '/api/account/usage'),
  contacts: (q: string, limit = 8) => request<ContactsResponse>('GET', `/api/contacts?${new URLSearchParams({ q, limit: String(limit) })}`),
  /**
   * Held for the undo delay (or until sendAt); `sent` is set when the delay is 0. Sent again with
   * the same `idempotencyKey` (after a network error or a 5xx), it answers the message already held.
   */
  send: (body: SendBody, idempotencyKey?: string) =>
    request<SendResponse>('POST', '/api/messages/send', { body, ...(idempotencyKey ? { headers: { 'idempotency-key': idempotencyKey } } : {}) }),
  /** Stops a held message; answers it as composed, to reopen it. */
  cancelScheduled: (id: number) => request<ScheduledSendDto>('POST', `/api/messages/scheduled/${id}/cancel`),
  scheduled: () => request<ScheduledSendListResponse>('GET', '/api/messages/scheduled'),
  saveDraft: (body: DraftBody) => request<DraftIdResponse>('POST', '/api/drafts', { body }),
  /** Files the new version and deletes the old one: answers the new id. */
  replaceDraft: (id: number, body: DraftBody) => request<DraftIdResponse>('PUT', `/api/drafts/${id}`, { body }),
  deleteDraft: (id: number) => request<void>('DELETE', `/api/drafts/${id}`),
  upload,
  importMail,
};

/** Uploads one file (multipart), reporting progress from 0 to 1. */
function upload(file: File, onProgress: (fraction: number) => void): Promise<UploadDto> {
  const form = new FormData();
  form.append('file', file, file.name);
  return postWithProgress<UploadDto>('/api/uploads', form, null, onProgress);
}

/**
 * Imports an mbox file into the user's mailboxes (the file is the body), reporting the upload's
 * progress from 0 to 1; the answer comes once the messages are filed.
 */
function importMail(file: File, onProgress: (fraction: number) => void): Promise<AccountImportResult> {
  return postWithProgress<AccountImportResult>('/api/account/import', file, 'application/mbox', onProgress);
}

/** A POST whose upload progress is reported (0 to 1); XMLHttpRequest because fetch reports none. */
function postWithProgress<T>(path: string, body: XMLHttpRequestBodyInit, contentType: string | null, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('accept', 'application/json');
    if (contentType) xhr.setRequestHeader('content-type', contentType);
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(toApiError(0, null));
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: judged by the status below
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data as T);
      const error = toApiError(xhr.status, data);
      if (xhr.status === 401) sessionExpired?.();
      reject(error);
    };
    xhr.send(body);
  });
}

export type Api = typeof api;

/** A query string of the defined values. */
function query(values: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** GET /api/admin/audit's query (adminAuditQuery): times are ISO 8601. */
export interface AdminAuditFilter {
  action?: string;
  actor?: string;
  since?: string;
  until?: string;
  before?: number;
  limit?: number;
}

/** The admin API (the admin panel): what each call may do depends on the signed-in role. */
export const adminApi = {
  domains: () => request<AdminDomainListResponse>('GET', '/api/admin/domains'),
  addDomain: (name: string) => request<AdminDomainDto>('POST', '/api/admin/domains', { body: { name } }),
  removeDomain: (name: string) => request<OkResponse>('DELETE', `/api/admin/domains/${encodeURIComponent(name)}`),
  dns: (name: string) => request<AdminDnsResponse>('GET', `/api/admin/domains/${encodeURIComponent(name)}/dns`),
  rotateDkim: (name: string) => request<AdminDkimRotateResponse>('POST', `/api/admin/domains/${encodeURIComponent(name)}/dkim/rotate`),
  users: (domain?: string) => request<AdminUserListResponse>('GET', `/api/admin/users${query({ domain })}`),
  createUser: (body: AdminUserCreateBody) => request<AdminUserDto>('POST', '/api/admin/users', { body }),
  updateUser: (id: number, body: AdminUserPatchBody) => request<AdminUserDto>('PATCH', `/api/admin/users/${id}`, { body }),
  deleteUser: (id: number) => request<OkResponse>('DELETE', `/api/admin/users/${id}`),
  aliases: () => request<AdminAliasListResponse>('GET', '/api/admin/aliases'),
  addAlias: (body: AdminAliasBody) => request<AdminAliasDto>('POST', '/api/admin/aliases', { body }),
  removeAlias: (address: string) => request<OkResponse>('DELETE', `/api/admin/aliases/${encodeURIComponent(address)}`),
  outbound: (options: { status?: 'queued' | 'deferred'; after?: number } = {}) => request<AdminOutboundListResponse>('GET', `/api/admin/outbound${query(options)}`),
  retryDelivery: (id: number) => request<AdminQueuedDeliveryDto>('POST', `/api/admin/outbound/deliveries/${id}/retry`),
  cancelDelivery: (id: number) => request<AdminQueuedDeliveryDto>('POST', `/api/admin/outbound/deliveries/${id}/cancel`),
  audit: (filter: AdminAuditFilter = {}) => request<AdminAuditListResponse>('GET', `/api/admin/audit${query({ ...filter })}`),
  stats: () => request<AdminStatsResponse>('GET', '/api/admin/stats'),
};

export type AdminApi = typeof adminApi;
