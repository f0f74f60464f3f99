import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './fake-kube-api.ts';

/**
 * Renders a kustomization. `kubectl kustomize` when kubectl is on the PATH (it is on our machines:
 * the image ships kubectl 1.32 with kustomize v5); otherwise the small renderer below, which knows
 * only the fields Sluice's kustomizations use and refuses any other, so that it can never quietly
 * differ (a test renders with both when both are there and compares).
 */
export function kustomize(dir: string): { objects: KubeObject[]; via: 'kubectl' | 'builtin' } {
  if (hasKubectl()) return { objects: parseYaml(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 })), via: 'kubectl' };
  return { objects: renderBuiltin(dir), via: 'builtin' };
}

let kubectl: boolean | undefined;
export function hasKubectl(): boolean {
  if (kubectl === undefined) {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 30_000 });
      kubectl = true;
    } catch {
      kubectl = false;
    }
  }
  return kubectl;
}

export function parseYaml(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'IngressClass', 'PriorityClass', 'ClusterIssuer']);
const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'images', 'resources']);

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  resources?: string[];
}

function podSpecs(o: KubeObject): Array<Record<string, any>> {
  const spec = o.spec as Record<string, any> | undefined;
  if (!spec) return [];
  if (o.kind === 'Pod') return [spec];
  if (o.kind === 'CronJob') return [spec.jobTemplate?.spec?.template?.spec].filter(Boolean);
  return [spec.template?.spec].filter(Boolean);
}

/** The builtin renderer: resources (files and directories), namespace, labels (metadata only), images. */
export function renderBuiltin(dir: string): KubeObject[] {
  const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0] as unknown as Kustomization;
  for (const key of Object.keys(k)) if (!KNOWN_FIELDS.has(key)) throw new Error(`builtin kustomize: ${dir}: field "${key}" is not supported; render with kubectl`);
  const objects: KubeObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    objects.push(...(statSync(path).isDirectory() ? renderBuiltin(path) : parseYaml(readFileSync(path, 'utf8'))));
  }
  for (const o of objects) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind ?? '')) o.metadata.namespace = k.namespace;
    for (const l of k.labels ?? []) {
      if (l.includeSelectors || l.includeTemplates) throw new Error('builtin kustomize: labels into selectors/templates are not supported; render with kubectl');
      o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
    }
    for (const pod of podSpecs(o)) {
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as Array<{ image?: string }>) {
        if (!c.image) continue;
        const name = c.image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
        const img = (k.images ?? []).find((i) => i.name === name);
        if (!img) continue;
        const tag = img.newTag ?? (/:([^/:]*)$/.exec(c.image.replace(/@.*$/, ''))?.[1] ?? undefined);
        c.image = `${img.newName ?? name}${tag ? `:${tag}` : ''}`;
      }
    }
  }
  return objects;
}
