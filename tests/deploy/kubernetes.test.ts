import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkManifests, manifestDocuments } from './kubernetes-check.js';

/**
 * deploy/kubernetes is valid Kubernetes and agrees with the code (kubernetes-check.ts says what is
 * checked); and each kind of check fails on a copy broken on purpose.
 */

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const manifests = path.join(repoRoot, 'deploy', 'kubernetes');
const scratchDirs: string[] = [];

afterAll(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of the manifests with `edit` applied to one file's text. */
function brokenCopy(file: string, edit: (text: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-k8s-'));
  scratchDirs.push(dir);
  fs.cpSync(manifests, dir, { recursive: true });
  const target = path.join(dir, file);
  const before = fs.readFileSync(target, 'utf8');
  const after = edit(before);
  expect(after, `the edit of ${file} changed nothing`).not.toBe(before);
  fs.writeFileSync(target, after);
  return dir;
}

describe('deploy/kubernetes', () => {
  it('validates against the Kubernetes and CloudNativePG schemas and agrees with the code', () => {
    expect(checkManifests(manifests, repoRoot)).toEqual([]);
  });

  it('runs every Mailyard service, two or more replicas each, non-root, with requests and limits', () => {
    const docs = manifestDocuments(manifests);
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata?.name).sort()).toEqual(['backend', 'imap-server', 'inbound-worker', 'outbound-worker', 'smtp-server']);
    for (const deployment of deployments) {
      expect(deployment.spec?.replicas, deployment.metadata?.name).toBeGreaterThanOrEqual(2);
      const pod = deployment.spec?.template?.spec as { securityContext?: { runAsNonRoot?: boolean }; containers: Array<{ resources?: { requests?: object; limits?: object } }> };
      expect(pod.securityContext?.runAsNonRoot, deployment.metadata?.name).toBe(true);
      for (const container of pod.containers) expect(container.resources, deployment.metadata?.name).toMatchObject({ requests: expect.any(Object), limits: expect.any(Object) });
    }
    expect(docs.filter((d) => d.kind === 'PodDisruptionBudget').length).toBeGreaterThanOrEqual(deployments.length);
    expect(docs.find((d) => d.kind === 'Cluster')?.spec).toMatchObject({ instances: 3 });
    expect(docs.find((d) => d.kind === 'StatefulSet' && d.metadata?.name === 'redis')?.spec).toMatchObject({ replicas: 3 });
  });

  it('reports a value against the schema (Kubernetes or CloudNativePG), an unknown kind and a document that is not YAML', () => {
    const badPort = brokenCopy('smtp-server.yaml', (t) => t.replace('containerPort: 2525', 'containerPort: twenty-five'));
    expect(checkManifests(badPort, repoRoot).join('\n')).toMatch(/smtp-server\.yaml: Deployment smtp-server: .*containerPort must be integer/);
    const badCluster = brokenCopy('postgres-cluster.yaml', (t) => t.replace('instances: 3', 'instances: three'));
    expect(checkManifests(badCluster, repoRoot)).toContainEqual(expect.stringMatching(/Cluster mailyard-pg: .*instances must be integer/));
    const unknownKind = brokenCopy('namespace.yaml', (t) => `${t}---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: mailyard\n`);
    expect(checkManifests(unknownKind, repoRoot)).toContainEqual(expect.stringMatching(/unknown kind cert-manager\.io\/v1\/Certificate/));
    const notYaml = brokenCopy('configmap.yaml', (t) => `${t}  bad: [unclosed\n`);
    expect(checkManifests(notYaml, repoRoot)).toContainEqual(expect.stringMatching(/configmap\.yaml: not YAML/));
  });

  it('reports a setting no service reads, a value its service refuses, and a secret key nobody defines', () => {
    const unknownKey = brokenCopy('inbound-worker.yaml', (t) => t.replace('name: INBOUND_CONCURRENCY', 'name: INBOUND_CONCURRENCE'));
    expect(checkManifests(unknownKey, repoRoot)).toContainEqual(expect.stringMatching(/inbound-worker: sets INBOUND_CONCURRENCE, which its service does not read/));
    const misplaced = brokenCopy('configmap.yaml', (t) => t.replace('LOG_LEVEL: info', 'LOG_LEVEL: info\n  SMTP_GREYLIST_TYPO: "on"'));
    expect(checkManifests(misplaced, repoRoot)).toContainEqual(expect.stringMatching(/ConfigMap mailyard-config: SMTP_GREYLIST_TYPO is read by none/));
    const badValue = brokenCopy('smtp-server.yaml', (t) => t.replace('value: "on"', 'value: "maybe"'));
    expect(checkManifests(badValue, repoRoot)).toContainEqual(expect.stringMatching(/smtp-server: its configuration does not load: [^]*SMTP_GREYLIST/));
    const missingKey = brokenCopy('secret.example.yaml', (t) => t.replace('  METRICS_TOKEN: REPLACE', '  METRICS_TOKN: REPLACE'));
    expect(checkManifests(missingKey, repoRoot)).toContainEqual(expect.stringMatching(/backend: METRICS_TOKEN comes from key METRICS_TOKEN that Secret mailyard-secrets does not have/));
  });

  it('reports a probe or Service port no container declares, a selector that selects nothing and a missing kustomization resource', () => {
    const probe = brokenCopy('outbound-worker.yaml', (t) => t.replace('value: "8081"', 'value: "8082"').replace(/port: health/g, 'port: 8082'));
    expect(checkManifests(probe, repoRoot)).toContainEqual(expect.stringMatching(/outbound-worker: readinessProbe uses port 8082/));
    const execProbe = brokenCopy('imap-server.yaml', (t) => t.replace('value: "2143"', 'value: "2144"'));
    expect(checkManifests(execProbe, repoRoot)).toContainEqual(expect.stringMatching(/imap-server: readinessProbe uses port 2144/));
    const service = brokenCopy('backend.yaml', (t) => t.replace('targetPort: https', 'targetPort: tls'));
    expect(checkManifests(service, repoRoot)).toContainEqual(expect.stringMatching(/Service web: port https targets tls/));
    const selector = brokenCopy('imap-server.yaml', (t) => t.replace(/(kind: PodDisruptionBudget[^]*name: )imap-server(\s*)$/, '$1imap$2'));
    expect(checkManifests(selector, repoRoot)).toContainEqual(expect.stringMatching(/PodDisruptionBudget imap-server: selects no workload/));
    const missing = brokenCopy('kustomization.yaml', (t) => t.replace('  - redis.yaml', '  - redis-sentinel.yaml'));
    expect(checkManifests(missing, repoRoot)).toEqual(expect.arrayContaining([expect.stringMatching(/lists redis-sentinel\.yaml, which does not exist/), expect.stringMatching(/does not list redis\.yaml/)]));
  });
});
