import http from 'node:http';
import https from 'node:https';
import type { BaseConfig } from '../../config/load-config.js';
import type { FilterCheckJson } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { SpamEngine, SpamEngineInput, SpamEngineResult } from './engine.js';

/**
 * rspamd as the spam engine (issue 11), over its HTTP protocol
 * (https://rspamd.com/doc/developers/protocol.html):
 * - check: `POST <url>/checkv2` on the normal worker with the message as the body and the
 *   envelope as headers (IP, Helo, From, one Rcpt per recipient, Queue-Id, Pass: all). Its
 *   `score`, `action` and scored `symbols` become the result; when rspamd is down, slow or
 *   answers 5xx the result is null and the built-in rules decide (logged `spam.rspamd_unavailable`).
 * - learn: `POST <controllerUrl>/learnspam|learnham` on the controller worker, with the Password
 *   header when one is set. "Already learned" (208) is success; anything else throws a
 *   `SpamLearnError` saying whether a retry could help.
 */

export interface RspamdEngineOptions {
  /** The normal worker, e.g. http://127.0.0.1:11333. */
  url: string;
  /** The controller worker (learning), e.g. http://127.0.0.1:11334; default: `url`. */
  controllerUrl?: string;
  /** The controller's password (sent as the Password header); unset: rspamd's secure_ip decides. */
  password?: string;
  /** How long a check or learn may take. */
  timeoutMs: number;
  log?: Logger;
}

/** A learn rspamd did not take. `permanent`: it refused this message (4xx), so retrying cannot help. */
export class SpamLearnError extends AppError {
  constructor(
    message: string,
    public readonly permanent: boolean,
  ) {
    super(permanent ? 'spam.learn_refused' : 'spam.learn_unavailable', message, permanent ? 422 : 503);
  }
}

/** At most this many symbols are kept as checks (the heaviest first). */
export const MAX_RSPAMD_CHECKS = 20;

interface RspamdSymbol {
  name?: string;
  score?: number;
  description?: string;
  options?: string[];
}

interface HttpReply {
  status: number;
  body: string;
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/** One POST with the body and headers (arrays become repeated header lines, as rspamd wants for Rcpt). */
function post(base: string, path: string, headers: Record<string, string | string[]>, body: Buffer, timeoutMs: number): Promise<HttpReply> {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      { method: 'POST', headers: { ...headers, 'Content-Length': String(body.length) }, agent: url.protocol === 'https:' ? agents.https : agents.http, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // `timeout` is idle time on the socket; the deadline bounds the whole exchange.
    const deadline = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}

/** Header values may not carry CR/LF; an address with them is dropped rather than sent. */
function headerSafe(value: string): boolean {
  return !/[\r\n\0]/.test(value);
}

function detailOf(symbol: RspamdSymbol): string | null {
  const parts = [symbol.description, symbol.options && symbol.options.length > 0 ? symbol.options.join(', ') : undefined].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length > 0 ? parts.join(': ').slice(0, 500) : null;
}

/**
 * rspamd's checkv2 reply → the engine result: the scored symbols as checks, heaviest first (at
 * most MAX_RSPAMD_CHECKS). A verdict forced without scored symbols (GTUBE, a pre-filter) is kept
 * as one check naming the rule and rspamd's message, so the user still sees why.
 */
export function parseRspamdReply(reply: unknown): SpamEngineResult {
  const r = reply as { score?: unknown; action?: unknown; symbols?: Record<string, RspamdSymbol>; messages?: { smtp_message?: unknown } };
  if (typeof r?.score !== 'number' || typeof r.action !== 'string') throw new Error('rspamd reply has no score or action');
  const symbols = Object.entries(r.symbols ?? {}).map(([name, s]) => ({ ...s, name: s.name ?? name }));
  const scored = symbols.filter((s) => typeof s.score === 'number' && s.score !== 0);
  scored.sort((a, b) => Math.abs(b.score!) - Math.abs(a.score!) || a.name.localeCompare(b.name));
  const checks: FilterCheckJson[] = scored.slice(0, MAX_RSPAMD_CHECKS).map((s) => ({ check: 'rspamd', result: s.name, score: s.score!, detail: detailOf(s) }));
  const explained = scored.reduce((sum, s) => sum + s.score!, 0);
  if (Math.abs(r.score - explained) > 0.01 && checks.length < MAX_RSPAMD_CHECKS) {
    const message = typeof r.messages?.smtp_message === 'string' ? r.messages.smtp_message : null;
    const forcing = symbols.filter((s) => !scored.includes(s)).map((s) => s.name);
    checks.push({ check: 'rspamd', result: forcing.length === 1 ? forcing[0]! : r.action, score: Math.round((r.score - explained) * 100) / 100, detail: message ?? `rspamd action: ${r.action}` });
  }
  return { score: r.score, action: r.action, checks };
}

export function createRspamdEngine(options: RspamdEngineOptions): SpamEngine {
  const { url, timeoutMs, log } = options;
  const controllerUrl = options.controllerUrl ?? url;
  return {
    name: 'rspamd',

    async check(input: SpamEngineInput) {
      const headers: Record<string, string | string[]> = { Pass: 'all', From: input.mailFrom === '' ? '<>' : input.mailFrom };
      if (headerSafe(input.ip)) headers.IP = input.ip;
      if (input.helo && headerSafe(input.helo)) headers.Helo = input.helo;
      const rcpts = input.rcptTo.filter(headerSafe);
      if (rcpts.length > 0) headers.Rcpt = [...rcpts];
      if (!headerSafe(headers.From as string)) delete headers.From;
      try {
        const reply = await post(url, 'checkv2', headers, input.raw, timeoutMs);
        if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.body.slice(0, 200)}`);
        return parseRspamdReply(JSON.parse(reply.body));
      } catch (err) {
        log?.warn({ event: 'spam.rspamd_unavailable', err: (err as Error).message });
        return null;
      }
    },

    async learn(kind, raw) {
      const headers: Record<string, string> = {};
      if (options.password) headers.Password = options.password;
      let reply: HttpReply;
      try {
        reply = await post(controllerUrl, kind === 'spam' ? 'learnspam' : 'learnham', headers, raw, timeoutMs);
      } catch (err) {
        throw new SpamLearnError(`rspamd could not be reached: ${(err as Error).message}`, false);
      }
      if (reply.status === 200 || reply.status === 208) return; // 208: already learned as this kind
      const error = errorText(reply.body);
      if (/already learned/i.test(error)) return;
      throw new SpamLearnError(`rspamd refused to learn ${kind}: HTTP ${reply.status} ${error}`, reply.status >= 400 && reply.status < 500 && ![401, 403, 408, 429].includes(reply.status));
    },
  };
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: the text itself
  }
  return body.slice(0, 200);
}

/** The engine RSPAMD_URL names, or null (no engine: built-in rules, nothing learned). */
export function createSpamEngineFromConfig(config: Pick<BaseConfig, 'RSPAMD_URL' | 'RSPAMD_CONTROLLER_URL' | 'RSPAMD_PASSWORD' | 'RSPAMD_TIMEOUT'>, log?: Logger): SpamEngine | null {
  if (!config.RSPAMD_URL) return null;
  return createRspamdEngine({ url: config.RSPAMD_URL, controllerUrl: config.RSPAMD_CONTROLLER_URL, password: config.RSPAMD_PASSWORD, timeoutMs: config.RSPAMD_TIMEOUT, log });
}
