import fs from 'node:fs';
import path from 'node:path';
import { postgresqlCnpgIo } from '@kubernetes-models/cloudnative-pg';
import { apps, batch, policy, v1 } from 'kubernetes-models';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, requireServiceEndpoints, schemas, type RunMode } from '../../core/src/config/load-config.js';

/**
 * The checks of deploy/kubernetes (tests/deploy/kubernetes.test.ts), as a function of the folder so
 * that the test can also run them on broken copies. `checkManifests(dir)` lists every problem:
 * - each YAML document against its schema: kubernetes-models (the Kubernetes OpenAPI schemas)
 *   and @kubernetes-models/cloudnative-pg (the Cluster CRD), the class picked by apiVersion + kind;
 *   an unknown kind is a problem (nothing would check it);
 * - against the code: each Mailyard container's environment (ConfigMap + env, secrets replaced by
 *   sample values) is loaded with the config schema of the service its command starts, which must
 *   know every key and accept every value; a secretKeyRef names a key the Secret template or the
 *   CloudNativePG app Secret has;
 * - inside the manifests: probes point at declared container ports (an exec probe's
 *   `process.env.X` at one too), Services and PodDisruptionBudgets select some workload and a
 *   Service's named targetPort is one of its containers' ports, the kustomization lists exactly the
 *   resource files there are, and the app image is compose's.
 * The schemas do not reject unknown fields (kubectl --validate=strict does).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the models' constructors take their own typed shapes
type ModelClass = new (data: any) => { validate(): void };

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': v1.Namespace,
  'v1/ConfigMap': v1.ConfigMap,
  'v1/Secret': v1.Secret,
  'v1/Service': v1.Service,
  'v1/PersistentVolumeClaim': v1.PersistentVolumeClaim,
  'apps/v1/Deployment': apps.v1.Deployment,
  'apps/v1/StatefulSet': apps.v1.StatefulSet,
  'batch/v1/Job': batch.v1.Job,
  'policy/v1/PodDisruptionBudget': policy.v1.PodDisruptionBudget,
  'postgresql.cnpg.io/v1/Cluster': postgresqlCnpgIo.v1.Cluster,
};

/** The keys of the Secret CloudNativePG generates for a Cluster's owner (`<cluster>-app`). */
const CNPG_APP_SECRET_KEYS = ['username', 'password', 'host', 'port', 'dbname', 'uri', 'jdbc-uri', 'pgpass'];

/** The config schema of the service a container's command starts (`node <service>/dist/main.js`, or the CLI). */
type ServiceSchema = (mode: RunMode) => ReturnType<typeof schemas.base>;
const SCHEMA_BY_ENTRY: Record<string, ServiceSchema> = {
  'backend/dist/main.js': schemas.http,
  'smtp-server/dist/main.js': schemas.smtp,
  'imap-server/dist/main.js': schemas.imap,
  'inbound-worker/dist/main.js': schemas.inbound,
  'outbound-worker/dist/main.js': schemas.outbound,
  'bin/mailyard.mjs': schemas.base,
};

/** Values that pass the config schemas, standing in for the secrets when a container's environment is loaded. */
const SAMPLE_SECRETS: Record<string, string> = {
  SECRET_KEY: 'ab'.repeat(32),
  METRICS_TOKEN: 'c'.repeat(32),
  REDIS_PASSWORD: 'd'.repeat(48),
  uri: 'postgresql://mailyard:secret@mailyard-pg-rw.mailyard:5432/mailyard',
};

interface Meta {
  name?: string;
  labels?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command?: string[] };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
}
interface PodTemplate {
  metadata?: Meta;
  spec?: { containers?: Container[]; initContainers?: Container[] };
}
export interface Resource {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    template?: PodTemplate;
    selector?: Record<string, string> & { matchLabels?: Record<string, string> };
    ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
  };
}
interface Loaded {
  file: string;
  doc: Resource;
}

/** Every YAML document of every .yaml file in `dir` (not the kustomization), or the parse problems. */
function loadDocuments(dir: string, problems: string[]): Loaded[] {
  const out: Loaded[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const document of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      if (document.errors.length > 0) {
        problems.push(`${file}: not YAML: ${document.errors[0]!.message}`);
        continue;
      }
      const doc = document.toJS() as Resource | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

const where = ({ file, doc }: Loaded) => `${file}: ${doc.kind ?? '?'} ${doc.metadata?.name ?? '?'}`;

function checkSchemas(docs: Loaded[], problems: string[]): void {
  for (const loaded of docs) {
    const { doc } = loaded;
    const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (!model) {
      problems.push(`${where(loaded)}: unknown kind ${doc.apiVersion}/${doc.kind} (no schema to validate it against)`);
      continue;
    }
    if (!doc.metadata?.name) problems.push(`${where(loaded)}: no metadata.name`);
    try {
      new model(doc).validate();
    } catch (err) {
      problems.push(`${where(loaded)}: ${(err as Error).message}`);
    }
  }
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

function workloads(docs: Loaded[]): Array<Loaded & { template: PodTemplate }> {
  return docs.flatMap((d) => (d.doc.spec?.template && ['Deployment', 'StatefulSet', 'Job'].includes(d.doc.kind ?? '') ? [{ ...d, template: d.doc.spec.template }] : []));
}

/** The schema keys of the service a container starts, or null when it is not a Mailyard container. */
function serviceSchema(container: Container): ServiceSchema | null {
  const entry = container.command?.find((part) => part in SCHEMA_BY_ENTRY);
  return entry ? SCHEMA_BY_ENTRY[entry]! : null;
}

function checkEnvironment(docs: Loaded[], problems: string[]): void {
  const configMaps = new Map(docs.filter((d) => d.doc.kind === 'ConfigMap').map((d) => [d.doc.metadata?.name, d.doc.data ?? {}]));
  const secrets = new Map(docs.filter((d) => d.doc.kind === 'Secret').map((d) => [d.doc.metadata?.name, { ...d.doc.data, ...d.doc.stringData }]));
  for (const cluster of docs.filter((d) => d.doc.kind === 'Cluster')) secrets.set(`${cluster.doc.metadata?.name}-app`, Object.fromEntries(CNPG_APP_SECRET_KEYS.map((k) => [k, ''])));
  const configMapUse = new Map<string, Set<string>>(); // ConfigMap → the config keys of the services that read it

  for (const workload of workloads(docs)) {
    for (const container of [...(workload.template.spec?.containers ?? []), ...(workload.template.spec?.initContainers ?? [])]) {
      const at = `${where(workload)} container ${container.name}`;
      const schema = serviceSchema(container);
      const env: Record<string, string> = {};
      for (const from of container.envFrom ?? []) {
        const name = from.configMapRef?.name ?? from.secretRef?.name ?? '';
        const data = from.configMapRef ? configMaps.get(name) : secrets.get(name);
        if (!data) {
          problems.push(`${at}: envFrom names ${name}, which is not in the manifests`);
          continue;
        }
        Object.assign(env, from.secretRef ? Object.fromEntries(Object.keys(data).map((k) => [k, SAMPLE_SECRETS[k] ?? 'x'])) : data);
        if (schema && from.configMapRef) {
          const keys = configMapUse.get(name) ?? new Set<string>();
          for (const key of Object.keys(schema('service').shape)) keys.add(key);
          configMapUse.set(name, keys);
        }
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref) {
          const secret = secrets.get(ref.name);
          if (!secret) problems.push(`${at}: ${variable.name} comes from Secret ${ref.name}, which is neither in the manifests nor CloudNativePG's`);
          else if (!(ref.key in secret)) problems.push(`${at}: ${variable.name} comes from key ${ref.key} that Secret ${ref.name} does not have`);
          env[variable.name] = SAMPLE_SECRETS[ref.key] ?? 'x';
        } else env[variable.name] = variable.value ?? '';
        if (schema && !(variable.name in schema('service').shape)) problems.push(`${at}: sets ${variable.name}, which its service does not read`);
      }
      if (!schema) continue;
      try {
        requireServiceEndpoints(loadConfig(schema('service'), env));
      } catch (err) {
        problems.push(`${at}: its configuration does not load: ${(err as Error).message}`);
      }
    }
  }
  for (const [name, keys] of configMapUse) {
    for (const key of Object.keys(configMaps.get(name) ?? {})) if (!keys.has(key)) problems.push(`ConfigMap ${name}: ${key} is read by none of the services that use it`);
  }
}

/** The ports a probe uses: its httpGet/tcpSocket port, or the `process.env.X` values an exec probe dials. */
function probePorts(probe: Probe, env: Record<string, string>): Array<number | string> {
  if (probe.httpGet) return [probe.httpGet.port];
  if (probe.tcpSocket) return [probe.tcpSocket.port];
  const script = probe.exec?.command?.join(' ') ?? '';
  return [...script.matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((m) => Number(env[m[1]!] ?? Number.NaN));
}

function checkPorts(docs: Loaded[], problems: string[]): void {
  const pods = workloads(docs);
  for (const workload of pods) {
    for (const container of [...(workload.template.spec?.containers ?? []), ...(workload.template.spec?.initContainers ?? [])]) {
      const declared = container.ports ?? [];
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
      for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
        const probe = container[kind];
        if (!probe) continue;
        for (const port of probePorts(probe, env)) {
          if (!declared.some((p) => p.name === port || p.containerPort === port)) problems.push(`${where(workload)} container ${container.name}: ${kind} uses port ${port}, which the container does not declare`);
        }
      }
    }
  }
  for (const selecting of docs.filter((d) => d.doc.kind === 'Service' || d.doc.kind === 'PodDisruptionBudget')) {
    const selector = selecting.doc.kind === 'Service' ? selecting.doc.spec?.selector : selecting.doc.spec?.selector?.matchLabels;
    const selected = pods.filter((w) => selector && matches(selector, w.template.metadata?.labels));
    if (selected.length === 0) {
      problems.push(`${where(selecting)}: selects no workload`);
      continue;
    }
    for (const port of selecting.doc.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const declared = selected.flatMap((w) => (w.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []));
      if (!declared.some((p) => p.name === target || p.containerPort === target)) problems.push(`${where(selecting)}: port ${port.name ?? port.port} targets ${target}, which no selected container declares`);
    }
  }
}

/** The kustomization lists exactly the resource files (the Secret template is applied by hand) and renames compose's image. */
function checkKustomization(dir: string, docs: Loaded[], repoRoot: string, problems: string[]): void {
  const file = path.join(dir, 'kustomization.yaml');
  if (!fs.existsSync(file)) {
    problems.push('kustomization.yaml is missing');
    return;
  }
  const kustomization = parse(fs.readFileSync(file, 'utf8')) as { resources?: string[]; images?: Array<{ name: string }> };
  const listed = kustomization.resources ?? [];
  for (const resource of listed) if (!fs.existsSync(path.join(dir, resource))) problems.push(`kustomization.yaml lists ${resource}, which does not exist`);
  const applied = new Set(docs.filter((d) => d.doc.kind !== 'Secret').map((d) => d.file));
  for (const resource of applied) if (!listed.includes(resource)) problems.push(`kustomization.yaml does not list ${resource}`);

  const compose = parse(fs.readFileSync(path.join(repoRoot, 'compose.yaml'), 'utf8')) as { 'x-app': { image: string } };
  const composeImage = /:-([^}]+)\}/.exec(compose['x-app'].image)?.[1] ?? compose['x-app'].image;
  for (const workload of workloads(docs)) {
    for (const container of workload.template.spec?.containers ?? []) {
      if (serviceSchema(container) && container.image !== composeImage) problems.push(`${where(workload)} container ${container.name}: image ${container.image}, not compose's ${composeImage}`);
    }
  }
  const imageName = composeImage.split(':')[0];
  if (!kustomization.images?.some((i) => i.name === imageName)) problems.push(`kustomization.yaml does not set where image ${imageName} comes from (images:)`);
}

/** Every problem of the manifests in `dir` (empty: all good). */
export function checkManifests(dir: string, repoRoot: string): string[] {
  const problems: string[] = [];
  const docs = loadDocuments(dir, problems);
  checkSchemas(docs, problems);
  checkEnvironment(docs, problems);
  checkPorts(docs, problems);
  checkKustomization(dir, docs, repoRoot, problems);
  return problems;
}

/** The documents of `dir`, for the test's own assertions (replicas, security context). */
export function manifestDocuments(dir: string): Resource[] {
  return loadDocuments(dir, []).map((d) => d.doc);
}
