import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, type AgentSpec, type ServiceProcess, type Stack } from '@sluice/testing';
import { BenchError, throwIfAborted } from './errors.ts';
import type { Transport } from './options.ts';
import { TUNNEL_HOSTNAME, tunnelTarget, type Target } from './target.ts';
import type { MeasuredProcess } from './idle.ts';

const AGENT_ID = 'bench';
const AGENT_TOKEN = 'bench-agent-token-0123456789abcdef';
const READY_TIMEOUT_MS = 20_000;

export interface BenchGateway {
  readonly transport: Transport;
  readonly tunnel: Target;
  /** edge, agent, router and nats-server: the processes a tunneled connection costs memory in. */
  measuredProcesses(): MeasuredProcess[];
  /** Warning and error lines the services logged (pino level >= 40), by process. */
  problems(): string[];
  stop(): Promise<void>;
}

/** One GET through the edge: its status, 0 when it fails or times out (2 s). */
export function statusOf(port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

const CPU_PROFILE_PRELOAD = fileURLToPath(new URL('./cpu-profile.mjs', import.meta.url));

/** Environment that makes a service write a CPU profile into `dir` when it exits (see cpu-profile.mjs). */
function cpuProfileEnv(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const nodeOptions = [process.env['NODE_OPTIONS'], `--import=${CPU_PROFILE_PRELOAD}`].filter((s) => s !== undefined && s !== '').join(' ');
  return { NODE_OPTIONS: nodeOptions, SLUICE_BENCH_CPU_PROFILE_DIR: dir };
}

/**
 * `startStack` passes only the agent spec to the agent but spawns it with this process's
 * environment, so the profiling variables are set just around the (synchronous) spawn.
 */
function startAgentWithEnv(stack: Stack, spec: AgentSpec, env: Record<string, string>): Promise<ServiceProcess> {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return stack.startAgent(spec);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const MAX_PROBLEMS_PER_PROCESS = 20;

/**
 * pino lines at warn or above, and plain lines that look like a Node warning or a crash. The log
 * is a tail of stderr chunks, so a line cut at the tail's start is skipped, not reported.
 */
function problemLines(p: { name: string; logs(): string }): string[] {
  const found: string[] = [];
  for (const line of p.logs().split('\n')) {
    let problem: boolean;
    if (line.startsWith('{')) {
      try {
        problem = ((JSON.parse(line) as { level?: unknown }).level as number) >= 40;
      } catch {
        problem = false;
      }
    } else problem = /error|warning|exception/i.test(line);
    if (problem) found.push(`${p.name}: ${line.slice(0, 300)}`);
  }
  if (found.length <= MAX_PROBLEMS_PER_PROCESS) return found;
  return [...found.slice(0, MAX_PROBLEMS_PER_PROCESS), `${p.name}: … and ${found.length - MAX_PROBLEMS_PER_PROCESS} more`];
}

/**
 * nats-server, registry, router, edge and one agent of `transport` serving TUNNEL_HOSTNAME from
 * the upstream; resolves once a request through the tunnel gets a 200.
 */
export async function startBenchGateway(
  transport: Transport,
  upstreamPort: number,
  opts: { signal: AbortSignal; profileDir?: string | undefined },
): Promise<BenchGateway> {
  const profileEnv = opts.profileDir ? cpuProfileEnv(join(opts.profileDir, transport)) : {};
  const stack = await startStack({
    registryAgents: [{ id: AGENT_ID, token: AGENT_TOKEN, hostnames: [TUNNEL_HOSTNAME] }],
    edgeEnv: {
      // every benchmark client is 127.0.0.1, and the idle scenario alone holds 1,000 connections
      EDGE_MAX_CONNS_PER_CLIENT: '100000',
      ...profileEnv,
    },
  });
  let agent: ServiceProcess | undefined;
  const gateway: BenchGateway = {
    transport,
    tunnel: tunnelTarget(stack.httpPort),
    measuredProcesses() {
      const list: MeasuredProcess[] = [
        { name: 'edge', pid: stack.edge.pid },
        { name: 'agent', pid: agent!.pid },
        { name: 'router', pid: stack.router.pid },
      ];
      if (stack.nats.pid !== undefined) list.push({ name: 'nats-server', pid: stack.nats.pid });
      return list;
    },
    problems: () => stack.processes().flatMap(problemLines),
    stop: () => stack.stop(),
  };
  try {
    agent = await startAgentWithEnv(
      stack,
      { id: AGENT_ID, token: AGENT_TOKEN, transport, ingress: [{ hostname: TUNNEL_HOSTNAME, service: `http://127.0.0.1:${upstreamPort}` }] },
      profileEnv,
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let status = 0;
    while (Date.now() < deadline) {
      throwIfAborted(opts.signal);
      status = await statusOf(stack.httpPort, TUNNEL_HOSTNAME);
      if (status === 200) return gateway;
      await sleep(100);
    }
    throw new BenchError('SLUICE_BENCH_TUNNEL_NOT_READY', `the ${transport} tunnel did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last status ${status})\n${gateway.problems().join('\n')}`);
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
