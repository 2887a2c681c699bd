// Fakes nothing: there is no cluster here, so the manifests are parsed and held against what the
// processes need (entry points, shutdown deadline, probes, secrets). `kubectl kustomize` is used
// when installed, never required.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '@switchboard/config';
import { scriptCommand } from '../../apps/tools/src/npm-scripts.js';
import { ROOT } from '../helpers/processes.js';

const DIR = join(ROOT, 'deploy/kubernetes');

// Loose shapes: only what the assertions read.
type Probe = {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
};
type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown };
};
type Container = {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  ports?: Array<{ name?: string; containerPort: number }>;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
  };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: Array<{ name: string; emptyDir?: unknown }>;
  restartPolicy?: string;
};
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};

const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]?.toJS() as {
  resources: string[];
  namespace?: string;
};
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const parsed = new Map<string, Manifest[]>();
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
  parsed.set(file, docs.map((d) => d.toJS() as Manifest).filter(Boolean));
}
const applied = kustomization.resources.flatMap((f) => parsed.get(f) ?? []);
const find = (kind: string, name: string) => applied.find((m) => m.kind === kind && m.metadata.name === name);
/** A manifest's spec in the shape a test reads (an absent manifest reads as empty, and fails the assertions). */
const specOf = <T>(m: Manifest | undefined): T => (m?.spec ?? {}) as T;
const podSpec = (m: Manifest | undefined) =>
  (m?.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec as PodSpec;
const script = (name: string) => scriptCommand(ROOT, name);
const configMap = find('ConfigMap', 'switchboard-config');
const shutdownMs = Number(configMap?.data?.SHUTDOWN_TIMEOUT_MS ?? 10_000);

t.test('kustomization lists every manifest but the example Secret; namespace-agnostic', async (t) => {
  for (const file of kustomization.resources) t.ok(parsed.has(file), `${file} exists`);
  t.same(
    files.filter((f) => !kustomization.resources.includes(f)),
    ['secret.example.yaml'],
    'only the example is left out',
  );
  t.notOk(kustomization.namespace, 'no namespace in the kustomization');
  for (const m of applied) t.notOk(m.metadata.namespace, `${m.kind}/${m.metadata.name} has no namespace`);
  const kinds = new Set(applied.map((m) => m.kind));
  for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Job', 'ConfigMap'])
    t.ok(kinds.has(kind), `has a ${kind}`);
  t.notOk(kinds.has('Secret'), 'no Secret is applied');
});

t.test('commands are the package.json start scripts', async (t) => {
  t.same(podSpec(find('Deployment', 'switchboard-api')).containers[0]?.command, script('start:api'));
  t.same(podSpec(find('Deployment', 'switchboard-worker')).containers[0]?.command, script('start:worker'));
  const job = find('Job', 'switchboard-migrate');
  t.same(podSpec(job).containers[0]?.command, script('migrate'), 'the migrate Job runs npm run migrate');
  t.equal(podSpec(job).restartPolicy, 'Never');
});

t.test('api: 2 replicas, ready on /health, live on something a dependency outage does not fail', async (t) => {
  const api = find('Deployment', 'switchboard-api');
  t.equal(api?.spec?.replicas, 2);
  const c = podSpec(api).containers[0] as Container;
  const port = c.ports?.find((p) => p.containerPort === 3000);
  t.ok(port, 'listens on 3000');
  const is3000 = (p: number | string | undefined) => p === 3000 || p === port?.name;
  t.equal(c.readinessProbe?.httpGet?.path, '/health');
  t.ok(is3000(c.readinessProbe?.httpGet?.port));
  t.ok(c.livenessProbe, 'has a liveness probe');
  t.not(c.livenessProbe?.httpGet?.path, '/health', '/health answers 503 on a dependency outage: not a liveness signal');
  t.ok(is3000(c.livenessProbe?.tcpSocket?.port ?? c.livenessProbe?.httpGet?.port));
  const service = find('Service', 'switchboard-api');
  t.match(
    specOf<{ selector?: Record<string, string> }>(service).selector,
    specOf<{ selector?: { matchLabels?: Record<string, string> } }>(api).selector?.matchLabels,
  );
});

t.test('worker: liveness reads the heartbeat file the worker writes', async (t) => {
  const c = podSpec(find('Deployment', 'switchboard-worker')).containers[0] as Container;
  t.match(c.livenessProbe?.exec?.command.join(' '), /WORKER_HEARTBEAT_FILE/);
  const file = configMap?.data?.WORKER_HEARTBEAT_FILE ?? '';
  t.ok(file.startsWith('/tmp/'), 'the heartbeat file is on the writable /tmp');
});

t.test(
  'every pod: resources, grace period above the shutdown deadline, non-root, read-only root with /tmp',
  async (t) => {
    for (const m of applied.filter((m) => m.kind === 'Deployment' || m.kind === 'Job')) {
      const spec = podSpec(m);
      const name = `${m.kind}/${m.metadata.name}`;
      if (m.kind === 'Deployment')
        t.ok(
          (spec.terminationGracePeriodSeconds ?? 30) * 1000 > shutdownMs,
          `${name}: grace period exceeds SHUTDOWN_TIMEOUT_MS`,
        );
      t.equal(spec.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`);
      t.ok(
        (spec.securityContext?.runAsUser ?? 0) > 0,
        `${name}: numeric non-root uid (the kubelet cannot verify a user name)`,
      );
      for (const c of spec.containers) {
        for (const r of ['cpu', 'memory']) {
          t.ok(c.resources?.requests?.[r], `${name}: ${r} request`);
          t.ok(c.resources?.limits?.[r], `${name}: ${r} limit`);
        }
        t.equal(c.image, 'switchboard', `${name}: the one image, retagged by kustomize`);
        t.equal(c.securityContext?.readOnlyRootFilesystem, true, `${name}: read-only root`);
        t.equal(c.securityContext?.allowPrivilegeEscalation, false);
        const tmp = c.volumeMounts?.find((v) => v.mountPath === '/tmp');
        t.ok(tmp && spec.volumes?.find((v) => v.name === tmp.name)?.emptyDir, `${name}: emptyDir at /tmp`);
        t.same(
          c.envFrom?.map((e) => e.configMapRef?.name ?? e.secretRef?.name),
          ['switchboard-config', 'switchboard-secrets'],
          `${name}: config from the ConfigMap, secrets from the operator's Secret`,
        );
      }
    }
  },
);

t.test('the ConfigMap passes the config loader', async (t) => {
  const data = (configMap?.data ?? {}) as Record<string, string>;
  t.ok(Object.keys(data).length > 0);
  t.doesNotThrow(() => loadConfig({ ...data, NODE_ENV: 'development' }), 'every value is one the processes accept');
  t.equal(
    loadConfig({ ...data, NODE_ENV: 'development' }).http.trustProxy,
    data.TRUST_PROXY,
    'the ingress is trusted by address',
  );
});

t.test('no secret value in what is applied', async (t) => {
  const secretLike = /SECRET|PASS|TOKEN|KEY|DATABASE_URL|REDIS_URL/;
  for (const key of Object.keys(configMap?.data ?? {})) t.notMatch(key, secretLike, `ConfigMap holds no ${key}`);
  for (const m of applied) {
    for (const c of podSpec(m)?.containers ?? []) {
      for (const e of c.env ?? []) {
        if (secretLike.test(e.name))
          t.ok(
            e.valueFrom?.secretKeyRef && e.value === undefined,
            `${m.metadata.name}: ${e.name} comes from a secretKeyRef`,
          );
      }
    }
  }
  const example = parsed.get('secret.example.yaml')?.[0];
  t.equal(example?.metadata.name, 'switchboard-secrets');
  for (const [k, v] of Object.entries(example?.stringData ?? {})) {
    if (secretLike.test(k)) t.match(v, /CHANGE-ME/, `example ${k} is a placeholder`);
  }
});

t.test('autoscalers and disruption budgets point at real workloads', async (t) => {
  for (const hpa of applied.filter((m) => m.kind === 'HorizontalPodAutoscaler')) {
    t.equal(hpa.apiVersion, 'autoscaling/v2');
    const spec = hpa.spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      metrics: Array<{ resource?: { name: string } }>;
    };
    t.ok(
      find(spec.scaleTargetRef.kind, spec.scaleTargetRef.name),
      `${hpa.metadata.name} targets an existing ${spec.scaleTargetRef.kind}`,
    );
    t.ok(
      spec.metrics.some((m) => m.resource?.name === 'cpu'),
      'scales on CPU',
    );
    t.ok(spec.minReplicas >= 2, 'keeps two replicas');
  }
  const hpaTargets = applied
    .filter((m) => m.kind === 'HorizontalPodAutoscaler')
    .map((m) => (m.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name);
  t.same(hpaTargets.sort(), ['switchboard-api', 'switchboard-worker']);

  const pdb = find('PodDisruptionBudget', 'switchboard-api');
  t.equal(pdb?.spec?.minAvailable, 1);
  type PodLabels = { template?: { metadata?: { labels?: Record<string, string> } } };
  const apiLabels = specOf<PodLabels>(find('Deployment', 'switchboard-api')).template?.metadata?.labels ?? {};
  const selector = specOf<{ selector?: { matchLabels?: Record<string, string> } }>(pdb).selector?.matchLabels ?? {};
  t.ok(Object.keys(selector).length > 0, 'the PDB has a selector');
  for (const [k, v] of Object.entries(selector)) t.equal(apiLabels[k], v, `the PDB selects the api pods (${k})`);
  const workerLabels = specOf<PodLabels>(find('Deployment', 'switchboard-worker')).template?.metadata?.labels ?? {};
  t.ok(
    Object.entries(selector).some(([k, v]) => workerLabels[k] !== v),
    'and not the workers',
  );
});

let kubectl = true;
try {
  execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
} catch {
  kubectl = false;
}
t.test('kustomize builds the set', { skip: kubectl ? false : 'kubectl is not installed' }, async (t) => {
  const out = execFileSync('kubectl', ['kustomize', DIR], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const built = parseAllDocuments(out).map((d) => d.toJS() as Manifest);
  t.equal(built.length, applied.length);
  t.notOk(built.some((m) => m.kind === 'Secret'));
});
