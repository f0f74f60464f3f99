import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createTrust, issueServiceCreds, issueSystemCreds, natsServerAuthConfig, readTrustFile, writeTrustFile } from '@sluice/auth';

export const gatewayUsage = `  sluice gateway credentials --out DIR        NATS operator-mode trust for k8s/gateway: the nats-server
      auth block, the registry's trust file and one .creds file per service (kept in DIR and
      re-used on the next run: run it again to re-issue service credentials without new keys)`;

/** The services of k8s/gateway that connect to NATS, each with its own credentials. */
export const GATEWAY_SERVICES = ['registry', 'router', 'edge', 'ddns'] as const;
/** Developer mode's (k8s/operator): the operator, and the tunnel pods it runs (they play edge). */
export const DEV_MODE_SERVICES = ['operator', 'tunnel'] as const;

/** Where k8s/gateway's nats StatefulSet keeps account JWTs (on its JetStream volume). */
export const K8S_RESOLVER_DIR = '/data/jwt';

export interface GatewayCredentialFiles {
  /** nats-server operator-mode block (operator JWT, system account, full resolver, preloads). */
  natsAuthConf: string;
  /** The operator, system and SLUICE account keys: the registry signs agent credentials with them. */
  trustFile: string;
  /** System-account credentials: the registry pushes revocations with them. */
  systemCreds: string;
  /** `<service>.creds` for each of GATEWAY_SERVICES and DEV_MODE_SERVICES. */
  services: Record<(typeof GATEWAY_SERVICES)[number] | (typeof DEV_MODE_SERVICES)[number], string>;
  /** Whether the keys were created now (false: an existing trust.json in the directory was used). */
  created: boolean;
}

/**
 * Writes everything a gateway in NATS operator mode needs into `dir` (0700; files 0600). An
 * existing `trust.json` there is used, never replaced: replacing it would invalidate every agent's
 * credentials.
 */
export async function writeGatewayCredentials(dir: string, resolverDir = K8S_RESOLVER_DIR): Promise<GatewayCredentialFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const trustFile = join(dir, 'trust.json');
  const created = !existsSync(trustFile);
  const trust = created ? await createTrust() : await readTrustFile(trustFile);
  if (created) await writeTrustFile(trustFile, trust);
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const services = {} as GatewayCredentialFiles['services'];
  for (const s of [...GATEWAY_SERVICES, ...DEV_MODE_SERVICES]) services[s] = write(`${s}.creds`, await issueServiceCreds(trust, `sluice-${s}`));
  return {
    natsAuthConf: write('nats-auth.conf', natsServerAuthConfig(trust, { resolverDir })),
    trustFile,
    systemCreds: write('system.creds', await issueSystemCreds(trust)),
    services,
    created,
  };
}

export async function runGatewayCommand(args: string[], flags: { out?: string | undefined; json?: boolean | undefined }, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  if (args[0] !== 'credentials' || !flags.out) {
    io.err(`usage:\n${gatewayUsage}\n`);
    return 2;
  }
  const dir = resolve(flags.out);
  const f = await writeGatewayCredentials(dir);
  if (flags.json) {
    io.out(JSON.stringify(f, null, 2) + '\n');
    return 0;
  }
  const creds = GATEWAY_SERVICES.map((s) => `--from-file=${f.services[s]}`).join(' ');
  io.out(
    `${f.created ? 'created new' : 'kept the existing'} operator and account keys in ${f.trustFile} (keep it safe: it signs every agent's credentials)\n` +
      `Create the Secrets k8s/gateway mounts, then apply it:\n\n` +
      `kubectl -n sluice create secret generic sluice-nats-operator --from-file=${f.natsAuthConf}\n` +
      `kubectl -n sluice create secret generic sluice-service-creds ${creds}\n` +
      `kubectl -n sluice create secret generic sluice-registry-trust --from-file=${f.trustFile} --from-file=${f.systemCreds}\n` +
      `\nDeveloper mode (k8s/operator; one tunnel Secret per served namespace, here shop):\n\n` +
      `kubectl -n sluice-dev create secret generic sluice-operator-nats --from-file=nats-creds=${f.services.operator}\n` +
      `kubectl -n shop create secret generic sluice-tunnel-nats --from-file=nats-creds=${f.services.tunnel}\n`,
  );
  return 0;
}
