import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { expect, inject } from 'vitest';
import { freePort } from '../../core/src/local/process-utils.js';

/**
 * compose.yaml without a Docker engine, for the system tests that run its services as processes
 * (compose.system.test.ts, replicas.system.test.ts): `docker-compose config` renders the file, the
 * Dockerfile's runtime stage gives the image's ENV, and `serviceEnv` builds the environment a
 * container gets (image ENV, then the service's `environment`), with the test run's PostgreSQL and
 * Redis for the service names, BIND_ADDRESS 127.0.0.1, a temporary DATA_DIR and a free loopback
 * port for every `*_PORT`. `startCommand` runs a service's `command` with exactly that environment.
 * Every process started here is tracked: `killSpawned()` SIGKILLs those still running (by PID).
 */

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const composeFile = path.join(repoRoot, 'compose.yaml');
export const dockerfile = path.join(repoRoot, 'Dockerfile');
export const APP_SERVICES = ['smtp-server', 'inbound-worker', 'outbound-worker', 'backend', 'imap-server'] as const;
export type AppService = (typeof APP_SERVICES)[number];
/** The image puts node on PATH; so do we, so that healthchecks find `node`. */
export const containerPath = `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;

export type EnvMap = Record<string, string>;
export interface PortMapping {
  published: number;
  target: number;
}
export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | number | { published?: string | number; target?: string | number }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  healthcheck?: { test?: string | string[] };
  restart?: string;
}
export interface ComposeConfig {
  services: Record<string, ComposeService>;
}

const spawned = new Set<ChildProcess>();

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGKILLs every process started through this module that still runs (afterAll). */
export function killSpawned(): void {
  for (const child of spawned) if (child.pid !== undefined && alive(child)) process.kill(child.pid, 'SIGKILL');
}

/** Runs a command to completion (bounded), collecting its output. */
export function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined && alive(child)) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      spawned.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `docker-compose -f compose.yaml config` with only `vars` in its environment and no .env file. */
export function composeConfig(vars: EnvMap) {
  const emptyEnvFile = path.join(inject('testDataDir'), 'compose-empty.env');
  fs.writeFileSync(emptyEnvFile, '');
  return run('docker-compose', ['-f', composeFile, '--env-file', emptyEnvFile, 'config'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: inject('testDataDir'), ...vars },
  });
}

/** compose.yaml rendered with `vars`, parsed; throws with docker-compose's error when it fails. */
export async function renderCompose(vars: EnvMap): Promise<{ config: ComposeConfig; stderr: string }> {
  const result = await composeConfig(vars);
  if (result.code !== 0) throw new Error(`docker-compose config failed (exit ${result.code}):\n${result.stderr}`);
  return { config: parse(result.stdout) as ComposeConfig, stderr: result.stderr };
}

export function environmentOf(service: ComposeService): EnvMap {
  const env: EnvMap = {};
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(raw)) if (value !== null) env[key] = String(value);
  }
  return env;
}

export function portsOf(service: ComposeService): PortMapping[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') return { published: Number(p.published), target: Number(p.target) };
    // short syntax: [ip:]published:target[/proto]
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    return { published: Number(parts.at(-2)), target: Number(parts.at(-1)) };
  });
}

export function volumesOf(service: ComposeService): Array<{ source: string; target: string }> {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'object') return { source: v.source ?? '', target: v.target ?? '' };
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}

export function commandOf(service: ComposeService): string[] {
  const c = service.command ?? [];
  return Array.isArray(c) ? c : c.trim().split(/\s+/);
}

export function dependsOf(service: ComposeService): Record<string, string | undefined> {
  const d = service.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

export type DockerfileRuntime = { env: EnvMap; workdir?: string; user?: string; text: string; buildText: string };

/** The runtime (last) stage of the Dockerfile: its ENV pairs, WORKDIR, USER and text. */
export function dockerfileRuntime(): DockerfileRuntime {
  const text = fs.readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const lastFrom = lines.map((l, i) => (/^\s*FROM\s/i.test(l) ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
  const stage = lines.slice(lastFrom);
  const env: EnvMap = {};
  let workdir: string | undefined;
  let user: string | undefined;
  for (const line of stage) {
    const m = /^\s*(ENV|WORKDIR|USER)\s+(.+?)\s*$/i.exec(line);
    if (!m) continue;
    const [, instruction = '', rest = ''] = m;
    if (instruction.toUpperCase() === 'WORKDIR') workdir = rest;
    else if (instruction.toUpperCase() === 'USER') user = rest;
    else {
      for (const pair of rest.split(/\s+/)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new Error(`write ENV as KEY=value (the test reads it): ${line}`);
        env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, '$1');
      }
    }
  }
  return { env, workdir, user, text: stage.join('\n'), buildText: lines.slice(0, lastFrom).join('\n') };
}

/**
 * The environment service `name`'s container gets (the image's ENV, then the service's
 * `environment`), with the service names postgres/redis replaced by the test's stores, BIND_ADDRESS
 * 127.0.0.1, `dataDir` as DATA_DIR and a fresh free port (not in `usedPorts`, which is updated) for
 * every `*_PORT`: replicas of one service differ only in their ports.
 */
export async function serviceEnv(
  rendered: ComposeConfig,
  runtime: DockerfileRuntime,
  name: string,
  stores: { databaseUrl: string; redisUrl: string; dataDir: string },
  usedPorts: Set<number>,
): Promise<EnvMap> {
  const env: EnvMap = { PATH: containerPath, ...runtime.env, ...environmentOf(rendered.services[name]!) };
  env.DATABASE_URL = stores.databaseUrl;
  env.REDIS_URL = stores.redisUrl;
  env.BIND_ADDRESS = '127.0.0.1';
  env.DATA_DIR = stores.dataDir;
  for (const key of Object.keys(env).filter((k) => /_PORT$/.test(k))) {
    let port = await freePort();
    while (usedPorts.has(port)) port = await freePort();
    usedPorts.add(port);
    env[key] = String(port);
  }
  return env;
}

/** Polls `check` until it is true; fails at the deadline or as soon as `child` exits. */
export async function waitFor(what: string, check: () => Promise<boolean>, options: { timeoutMs: number; child: ChildProcess; output: () => string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (!alive(options.child)) throw new Error(`${what}: the process exited (code ${options.child.exitCode}, signal ${options.child.signalCode}):\n${options.output()}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${options.timeoutMs} ms:\n${options.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True when host:port sends a 220 greeting (then says QUIT). */
export function smtpGreets(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.setTimeout(2_000, () => socket.destroy());
    socket.once('data', (d) => {
      const ok = d.toString().startsWith('220');
      socket.end('QUIT\r\n');
      resolve(ok);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

export interface Started {
  child: ChildProcess;
  /** The last 20,000 characters of stdout+stderr. */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `command` (node <file>) from the repository root (the image's WORKDIR) with exactly `env`.
 * `onLine` sees every complete line of stdout (the JSON log), e.g. to count events.
 */
export function startCommand(command: string[], env: EnvMap, onLine?: (line: string) => void): Started {
  const [program, ...args] = command;
  expect(program).toBe('node');
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.add(child);
  let out = '';
  let partial = '';
  const keep = (chunk: string) => (out = (out + chunk).slice(-20_000));
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    keep(chunk);
    if (!onLine) return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      spawned.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, exited };
}

/** Waits (bounded) for an exit; SIGKILLs our own process if it does not come. */
export async function exitWithin(started: Started, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const result = await Promise.race([started.exited, timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    if (started.child.pid !== undefined && alive(started.child)) process.kill(started.child.pid, 'SIGKILL');
    throw new Error(`process did not exit within ${timeoutMs} ms:\n${started.output()}`);
  }
  return result;
}
