import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  alive,
  APP_SERVICES,
  commandOf,
  composeConfig,
  containerPath,
  dependsOf,
  dockerfileRuntime,
  environmentOf,
  exitWithin,
  killSpawned,
  portsOf,
  renderCompose,
  repoRoot,
  run,
  serviceEnv,
  smtpGreets,
  startCommand,
  volumesOf,
  waitFor,
  type ComposeConfig,
  type EnvMap,
  type Started,
} from '../helpers/compose-env.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { useEmptyDatabase } from '../helpers/migration-db.js';
import { createTestStore, type TestStore } from '../helpers/store.js';

/**
 * compose.yaml and the Dockerfile, without a Docker engine: `docker-compose config` validates and
 * renders the file, and then every app service's `command` runs as its own process with exactly
 * the environment its container would get (the image's ENV plus the service's `environment`),
 * except that DATABASE_URL/REDIS_URL point at the test run's PostgreSQL/Redis, ports are free
 * loopback ports, BIND_ADDRESS is 127.0.0.1 and DATA_DIR is a temporary directory
 * (tests/helpers/compose-env.ts). replicas.system.test.ts runs two of each with mail flowing.
 */

const ALL_SERVICES = ['backend', 'imap-server', 'inbound-worker', 'migrate', 'outbound-worker', 'postgres', 'redis', 'smtp-server'];
const PASSWORD = 'compose-test-password';
const MAIL_HOSTNAME = 'mx.compose.test';

// ---- state -----------------------------------------------------------------------------------

let rendered: ComposeConfig;
let renderedStderr = '';
let runtime: ReturnType<typeof dockerfileRuntime>;

beforeAll(async () => {
  ({ config: rendered, stderr: renderedStderr } = await renderCompose({ POSTGRES_PASSWORD: PASSWORD, MAIL_HOSTNAME }));
  runtime = dockerfileRuntime();
});

// Only what this file spawned, by PID.
afterAll(killSpawned);

// ---- (a) (b): the rendered file ---------------------------------------------------------------

describe('compose.yaml rendered by docker-compose config', () => {
  it('has every service, with images, healthchecks and persistent volumes for the stores', () => {
    expect(renderedStderr).not.toMatch(/ERROR/);
    expect(Object.keys(rendered.services).sort()).toEqual(ALL_SERVICES);

    const postgres = rendered.services.postgres!;
    expect(postgres.image).toBe('postgres:17');
    expect(environmentOf(postgres).POSTGRES_PASSWORD).toBe(PASSWORD);
    expect(volumesOf(postgres).map((v) => v.target)).toContain('/var/lib/postgresql/data');
    expect(JSON.stringify(postgres.healthcheck?.test)).toContain('pg_isready');

    const redis = rendered.services.redis!;
    expect(redis.image).toBe('redis:7');
    expect(commandOf(redis).join(' ')).toMatch(/--appendonly yes/);
    expect(volumesOf(redis).map((v) => v.target)).toContain('/data');
    expect(JSON.stringify(redis.healthcheck?.test)).toContain('ping');
  });

  it('publishes 25, 587, 465, 143, 993, 80 and 443 onto the ports the services listen on inside their containers', () => {
    const smtp = rendered.services['smtp-server']!;
    const smtpEnv = { ...runtime.env, ...environmentOf(smtp) };
    expect(portsOf(smtp)).toEqual([
      { published: 25, target: Number(smtpEnv.SMTP_PORT) },
      { published: 587, target: Number(smtpEnv.SUBMISSION_PORT) },
      { published: 465, target: Number(smtpEnv.SMTPS_PORT) },
    ]);
    // The image runs as an unprivileged user, so the in-container SMTP ports are not privileged ones.
    for (const key of ['SMTP_PORT', 'SUBMISSION_PORT', 'SMTPS_PORT']) expect(Number(smtpEnv[key])).toBeGreaterThanOrEqual(1024);

    const backend = rendered.services.backend!;
    const backendEnv = { ...runtime.env, ...environmentOf(backend) };
    expect(portsOf(backend)).toEqual([
      { published: 80, target: Number(backendEnv.HTTP_PORT) },
      { published: 443, target: Number(backendEnv.HTTPS_PORT) },
    ]);
    // Redirects to HTTPS name the published port, not the one inside the container.
    expect(Number(backendEnv.HTTPS_PUBLIC_PORT)).toBe(443);
    for (const key of ['HTTP_PORT', 'HTTPS_PORT']) expect(Number(backendEnv[key])).toBeGreaterThanOrEqual(1024);
    const imap = rendered.services['imap-server']!;
    const imapEnv = { ...runtime.env, ...environmentOf(imap) };
    expect(portsOf(imap)).toEqual([
      { published: 143, target: Number(imapEnv.IMAP_PORT) },
      { published: 993, target: Number(imapEnv.IMAPS_PORT) },
    ]);
    for (const key of ['IMAP_PORT', 'IMAPS_PORT']) expect(Number(imapEnv[key])).toBeGreaterThanOrEqual(1024);
    expect(portsOf(rendered.services['inbound-worker']!)).toEqual([]);
    expect(portsOf(rendered.services['outbound-worker']!)).toEqual([]);
  });

  it.each(APP_SERVICES)('%s reaches postgres and redis by service name, waits for them to be healthy, and shares /data', (name) => {
    const service = rendered.services[name]!;
    const env = environmentOf(service);
    const postgresEnv = environmentOf(rendered.services.postgres!);

    const db = new URL(env.DATABASE_URL ?? 'missing:');
    expect(db.protocol).toMatch(/^postgres(ql)?:$/);
    expect(db.hostname).toBe('postgres');
    expect(decodeURIComponent(db.username)).toBe(postgresEnv.POSTGRES_USER ?? 'postgres');
    expect(decodeURIComponent(db.password)).toBe(PASSWORD);
    expect(db.pathname).toBe(`/${postgresEnv.POSTGRES_DB ?? postgresEnv.POSTGRES_USER ?? 'postgres'}`);

    const redis = new URL(env.REDIS_URL ?? 'missing:');
    expect(redis.protocol).toBe('redis:');
    expect(redis.hostname).toBe('redis');

    expect(env.MAIL_HOSTNAME).toBe(MAIL_HOSTNAME);
    expect(dependsOf(service)).toEqual({ postgres: 'service_healthy', redis: 'service_healthy', migrate: 'service_completed_successfully' });
    expect(service.restart).toBe('unless-stopped');

    const dataDir = { ...runtime.env, ...env }.DATA_DIR;
    expect(dataDir).toBe('/data');
    const dataVolume = volumesOf(service).find((v) => v.target === dataDir);
    expect(dataVolume?.source).toBeTruthy();
    for (const other of APP_SERVICES) expect(volumesOf(rendered.services[other]!).find((v) => v.target === dataDir)?.source).toBe(dataVolume?.source);
  });

  it('runs the one-shot migrate (the admin CLI, not restarted) once postgres is healthy, with the apps environment', () => {
    const migrate = rendered.services.migrate!;
    expect(commandOf(migrate)).toEqual(['node', 'bin/mailyard.mjs', 'migrate']);
    expect(migrate.restart).toBe('no');
    expect(dependsOf(migrate)).toEqual({ postgres: 'service_healthy' });
    expect(migrate.healthcheck).toBeUndefined();
    expect(portsOf(migrate)).toEqual([]);
    expect(environmentOf(migrate).DATABASE_URL).toBe(environmentOf(rendered.services.backend!).DATABASE_URL);
    expect(runtime.buildText).toMatch(/cp -a [^;]*\bbin\b[^;]* \/out\//);
  });

  it('gives the workers a health port and a healthcheck on it', () => {
    for (const name of ['inbound-worker', 'outbound-worker']) {
      const service = rendered.services[name]!;
      expect(Number(environmentOf(service).WORKER_HEALTH_PORT)).toBeGreaterThanOrEqual(1024);
      expect(JSON.stringify(service.healthcheck?.test)).toContain('WORKER_HEALTH_PORT');
    }
  });

  it('passes ACME_EMAIL to every app service (the backend orders, all serve the certificate) and the ACME settings to the backend', async () => {
    const result = await composeConfig({ POSTGRES_PASSWORD: PASSWORD, MAIL_HOSTNAME, ACME_EMAIL: 'admin@compose.test' });
    expect(result.code, result.stderr).toBe(0);
    const services = (parse(result.stdout) as ComposeConfig).services;
    for (const name of APP_SERVICES) expect(environmentOf(services[name]!).ACME_EMAIL).toBe('admin@compose.test');
    expect(environmentOf(services.backend!).ACME_DIRECTORY_URL).toBe('https://acme-v02.api.letsencrypt.org/directory');
  });

  it('gives the backend and the outbound worker the same SECRET_KEY: one seals the DKIM keys, the other opens them', async () => {
    const key = 'ab'.repeat(32);
    const result = await composeConfig({ POSTGRES_PASSWORD: PASSWORD, MAIL_HOSTNAME, SECRET_KEY: key });
    expect(result.code, result.stderr).toBe(0);
    const services = (parse(result.stdout) as ComposeConfig).services;
    expect(environmentOf(services.backend!).SECRET_KEY).toBe(key);
    expect(environmentOf(services['outbound-worker']!).SECRET_KEY).toBe(key);
  });

  it('fails without POSTGRES_PASSWORD, naming it', async () => {
    const result = await composeConfig({ MAIL_HOSTNAME });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('POSTGRES_PASSWORD');
  });

  it('fails without MAIL_HOSTNAME, naming it', async () => {
    const result = await composeConfig({ POSTGRES_PASSWORD: PASSWORD });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('MAIL_HOSTNAME');
  });
});

// ---- (c): commands and the image -------------------------------------------------------------

describe('the image runs what the build produced', () => {
  it('runs as an unprivileged user from /app with NODE_ENV=production', () => {
    expect(runtime.workdir).toBe('/app');
    expect(runtime.user).toBeTruthy();
    expect(runtime.user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.env.NODE_ENV).toBe('production');
    expect(runtime.buildText).toMatch(/FROM\s+\S*node:22-bookworm-slim|NODE_IMAGE=node:22-bookworm-slim/);
    expect(runtime.buildText).toMatch(/npm ci/);
    expect(runtime.buildText).toMatch(/npm run build/);
    expect(runtime.buildText).toMatch(/npm prune --omit=dev/);
  });

  it.each(APP_SERVICES)('%s: `command` is node <file> and the file exists after the build and is copied into the image', (name) => {
    const command = commandOf(rendered.services[name]!);
    expect(command).toHaveLength(2);
    expect(command[0]).toBe('node');
    const file = command[1]!;
    expect(file).toBe(`${name}/dist/main.js`);
    expect(fs.existsSync(path.join(repoRoot, file)), `${file} is missing: run \`npm run build\` first`).toBe(true);
    // The build stage assembles each service workspace (package.json + dist) for the runtime stage.
    const assembled = /for ws in ([^;]+);/.exec(runtime.buildText)?.[1]?.trim().split(/\s+/) ?? [];
    expect(assembled).toContain('core');
    expect(assembled).toContain(name);
  });
});

// ---- (d): the services as compose would run them ---------------------------------------------

describe('each app service started with its compose environment', () => {
  const emptyDatabase = useEmptyDatabase();
  let store: TestStore;
  let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
  let dataDir: string;
  const envs = new Map<string, EnvMap>();
  const running = new Map<string, Started>();

  beforeAll(async () => {
    store = await createTestStore();
    redis = await allocateRedisUrl();
    dataDir = fs.mkdtempSync(path.join(inject('testDataDir'), 'compose-data-'));
    const usedPorts = new Set<number>();
    for (const name of APP_SERVICES) envs.set(name, await serviceEnv(rendered, runtime, name, { databaseUrl: store.url, redisUrl: redis.url, dataDir }, usedPorts));
  });

  afterAll(async () => {
    for (const s of running.values()) if (s.child.pid !== undefined && alive(s.child)) process.kill(s.child.pid, 'SIGKILL');
    await redis?.flush();
    await store?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('migrate applies the migrations to an empty database and exits 0', async () => {
    const env: EnvMap = { PATH: containerPath, ...runtime.env, ...environmentOf(rendered.services.migrate!), DATABASE_URL: emptyDatabase.url, DATA_DIR: dataDir };
    const started = startCommand(commandOf(rendered.services.migrate!), env);
    const { code, signal } = await exitWithin(started, 30_000);
    expect({ code, signal }, started.output()).toEqual({ code: 0, signal: null });
    expect(started.output()).toMatch(/applied \d+ migrations/);
  });

  it('smtp-server, both workers and backend start; /readyz answers 200 and the MX greets with 220', async () => {
    for (const name of APP_SERVICES) running.set(name, startCommand(commandOf(rendered.services[name]!), envs.get(name)!));

    const backend = running.get('backend')!;
    const httpPort = envs.get('backend')!.HTTP_PORT;
    expect(httpPort).toBeDefined();
    await waitFor('backend /readyz', async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200, { timeoutMs: 90_000, child: backend.child, output: backend.output });

    const smtp = running.get('smtp-server')!;
    const smtpPort = Number(envs.get('smtp-server')!.SMTP_PORT);
    await waitFor('smtp-server greeting', () => smtpGreets(smtpPort), { timeoutMs: 30_000, child: smtp.child, output: smtp.output });
    const imap = running.get('imap-server')!;
    await waitFor('imap-server start', async () => imap.output().includes('"event":"imap.listening"'), { timeoutMs: 30_000, child: imap.child, output: imap.output });

    const worker = running.get('inbound-worker')!;
    await waitFor('inbound-worker start', async () => worker.output().includes('"event":"inbound.started"'), { timeoutMs: 30_000, child: worker.child, output: worker.output });
    const outbound = running.get('outbound-worker')!;
    await waitFor('outbound-worker start', async () => outbound.output().includes('"event":"outbound.started"'), { timeoutMs: 30_000, child: outbound.child, output: outbound.output });

    // The self-signed certificate was generated into DATA_DIR, the shared volume.
    expect(fs.existsSync(path.join(dataDir, 'tls', 'cert.pem'))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'tls', 'key.pem'))).toBe(true);
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(smtpPort, '127.0.0.1');
      socket.once('data', (d) => {
        socket.end('QUIT\r\n');
        resolve(d.toString());
      });
      socket.once('error', reject);
    });
    expect(greeting).toMatch(new RegExp(`^220 ${MAIL_HOSTNAME.replace(/\./g, '\\.')}\\b`));
    // Five services starting at once on a busy 2-core machine: generous deadlines, not timings.
  }, 150_000);

  it.each(['smtp-server', 'backend', 'imap-server', 'inbound-worker', 'outbound-worker'])("%s: the compose healthcheck passes in the service's environment", async (name) => {
    expect(running.get(name) && alive(running.get(name)!.child)).toBe(true);
    const test = rendered.services[name]!.healthcheck?.test;
    expect(Array.isArray(test) && test[0] === 'CMD').toBe(true);
    const [, program, ...args] = test as string[];
    const result = await run(program!, args, { env: envs.get(name)!, timeoutMs: 10_000 });
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it.each([
    ['smtp-server', 'mailyard_smtp_sessions_total'],
    ['imap-server', 'mailyard_imap_connections'],
    ['inbound-worker', 'mailyard_jobs_processed_total'],
  ])('%s serves /readyz and its Prometheus metrics on its probe port (WORKER_HEALTH_PORT)', async (name, metric) => {
    const port = envs.get(name)!.WORKER_HEALTH_PORT;
    expect(port, 'compose gives it a probe port').toBeDefined();
    expect((await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toMatch(new RegExp(`^# TYPE ${metric} `, 'm'));
  });

  it.each(APP_SERVICES)('%s stops on SIGTERM with exit code 0', async (name) => {
    const started = running.get(name)!;
    expect(alive(started.child), started.output()).toBe(true);
    process.kill(started.child.pid!, 'SIGTERM');
    const { code, signal } = await exitWithin(started, 20_000);
    expect({ code, signal }, started.output()).toEqual({ code: 0, signal: null });
  });

  it.each(APP_SERVICES)('%s started without DATABASE_URL exits 78 naming DATABASE_URL', async (name) => {
    const env = { ...envs.get(name)! };
    delete env.DATABASE_URL;
    const started = startCommand(commandOf(rendered.services[name]!), env);
    const { code, signal } = await exitWithin(started, 15_000);
    expect(started.output()).toContain('DATABASE_URL');
    expect({ code, signal }, started.output()).toEqual({ code: 78, signal: null });
  });
});
