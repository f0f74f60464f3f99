import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';

export interface StartNatsOptions {
  /** Fixed client port; by default the OS picks a free one. */
  port?: number;
  /** JetStream store directory; by default a temp dir that `stop()` removes. A given dir is kept. */
  storeDir?: string;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** nats-server configuration text appended to the generated config. */
  extraConfig?: string;
  /**
   * Always the local nats-server binary, never a container, even when Docker answers: members of a
   * cluster (`startNatsCluster`) must reach each other's route and gateway ports on loopback.
   */
  local?: boolean;
}

export interface NatsServerHandle {
  /** `nats://host:port` for clients. */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Pid of the local nats-server process (changes on restart); undefined when run in a container. */
  readonly pid: number | undefined;
  /** SIGTERM, wait for exit, then remove the temp store dir unless the caller supplied `storeDir`. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash. Keeps the store so that `restart()` can recover it; `stop()` still cleans up. */
  kill(): Promise<void>;
  /** Stop (if running) and start again on the same port with the same store dir and config. */
  restart(): Promise<void>;
}

export type NatsServerErrorCode =
  | 'SLUICE_TESTING_NATS_BINARY_NOT_FOUND'
  | 'SLUICE_TESTING_NATS_START_FAILED'
  | 'SLUICE_TESTING_NATS_STOPPED';

export class NatsServerError extends Error {
  override readonly name = 'NatsServerError';
  readonly code: NatsServerErrorCode;
  constructor(code: NatsServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const NATS_IMAGE = 'nats:2.10-alpine';
const CONTAINER_CLIENT_PORT = 4222;
const CONTAINER_STORE_DIR = '/data';
const CONTAINER_CONFIG_PATH = '/etc/nats/sluice.conf';
const DOCKER_PROBE_TIMEOUT_MS = 2_000;
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 10_000;
const PORT_ATTEMPTS = 5;
const OUTPUT_TAIL_BYTES = 16 * 1024;

/** One running nats-server, local process or container. */
interface RunningServer {
  readonly host: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

interface LaunchSpec {
  port: number;
  storeDir: string;
  jetstream: boolean;
  extraConfig: string;
}

type Launcher = (spec: LaunchSpec) => Promise<RunningServer>;

/**
 * A test that forgets `stop()` or a worker torn down early must not leave servers or stores behind.
 * Processes: the kernel's parent-death signal (via setpriv) kills them even when this process dies by
 * SIGKILL or SIGTERM (vitest ends fork workers with SIGTERM, which skips 'exit' handlers; catching
 * SIGTERM here instead would fight signal-exit, which testcontainers loads). Temp dirs: removed on
 * 'exit', and those of dead processes are swept by the next startNats() (their names carry the pid).
 */
const liveChildren = new Set<ChildProcess>();
const ownedTempDirs = new Set<string>();
const TEMP_DIR_PREFIX = 'sluice-nats-';
const TEMP_DIR_OWNER = new RegExp(`^${TEMP_DIR_PREFIX}(?:store|conf)-(\\d+)-`);
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of ownedTempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let staleSweepDone = false;

async function sweepStaleTempDirs(): Promise<void> {
  if (staleSweepDone) return;
  staleSweepDone = true;
  const entries = await readdir(tmpdir()).catch(() => []);
  await Promise.all(
    entries.map(async (entry) => {
      const owner = TEMP_DIR_OWNER.exec(entry)?.[1];
      if (owner === undefined || isAlive(Number(owner))) return;
      await rm(join(tmpdir(), entry), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

async function makeTempDir(kind: 'store' | 'conf'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${TEMP_DIR_PREFIX}${kind}-${process.pid}-`));
  ownedTempDirs.add(dir);
  return dir;
}

let dockerProbe: Promise<boolean> | undefined;

/** Whether a Docker engine answers, asked once per process and given at most ~2 s. */
function dockerAvailable(): Promise<boolean> {
  dockerProbe ??= probeDocker();
  return dockerProbe;
}

async function probeDocker(): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DOCKER_PROBE_TIMEOUT_MS);
    timer.unref();
  });
  const probe = (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  try {
    return await Promise.race([probe, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function renderConfig(listen: string, storeDir: string, spec: LaunchSpec): string {
  const lines = [`listen: ${JSON.stringify(listen)}`];
  if (spec.jetstream) {
    lines.push('jetstream {', `  store_dir: ${JSON.stringify(storeDir)}`, '}');
  }
  if (spec.extraConfig !== '') lines.push(spec.extraConfig);
  return `${lines.join('\n')}\n`;
}

function findExecutable(name: string, fallback: string): string | undefined {
  const candidates = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name));
  candidates.push(fallback);
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; try the next one
    }
  }
  return undefined;
}

function findNatsServerBinary(): string {
  const binary = findExecutable('nats-server', '/usr/sbin/nats-server');
  if (binary === undefined) {
    throw new NatsServerError(
      'SLUICE_TESTING_NATS_BINARY_NOT_FOUND',
      'no executable nats-server on PATH or at /usr/sbin/nats-server, and no Docker engine answered; install nats-server (apt-get install nats-server)',
    );
  }
  return binary;
}

/** Command line that runs nats-server with SIGKILL as its parent-death signal where setpriv exists. */
function natsServerCommand(binary: string, configPath: string): [string, string[]] {
  const setpriv = process.platform === 'linux' ? findExecutable('setpriv', '/usr/bin/setpriv') : undefined;
  if (setpriv === undefined) return [binary, ['-c', configPath]];
  return [setpriv, ['--pdeathsig', 'KILL', '--', binary, '-c', configPath]];
}

/** Keeps the last bytes a process printed, to explain a failed start. */
class OutputTail {
  #text = '';
  append(chunk: Buffer): void {
    this.#text = (this.#text + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  }
  toString(): string {
    return this.#text;
  }
}

/** Connects once and resolves with the parsed INFO line a NATS server greets every client with. */
function readInfo(host: string, port: number, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = '';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no INFO from ${host}:${port} within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end === -1) {
        if (received.length > 64 * 1024) fail(new Error(`no CRLF in the first 64 KiB from ${host}:${port}`));
        return;
      }
      const line = received.slice(0, end);
      socket.destroy();
      if (!line.startsWith('INFO ')) {
        reject(new Error(`expected an INFO line from ${host}:${port}, got ${JSON.stringify(line.slice(0, 80))}`));
        return;
      }
      try {
        resolve(JSON.parse(line.slice('INFO '.length)) as Record<string, unknown>);
      } catch (cause) {
        reject(new Error(`unparsable INFO from ${host}:${port}`, { cause }));
      }
    });
  });
}

/**
 * Polls until the server greets a client. Fails as soon as `gone` resolves (the process died), even
 * while an attempt is pending: something else may hold the port and accept without greeting.
 */
async function waitForInfo(host: string, port: number, gone: Promise<string>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const died = gone.then((reason) => ({ ready: false, reason }) as const);
  let lastError: unknown;
  for (;;) {
    const attempt = readInfo(host, port, 1_000).then(
      () => ({ ready: true }) as const,
      (error: unknown) => {
        lastError = error;
        return { ready: false, reason: undefined } as const;
      },
    );
    const outcome = await Promise.race([attempt, died]);
    if (outcome.ready) return;
    if (outcome.reason !== undefined) throw new Error(outcome.reason, { cause: lastError });
    if (Date.now() > deadline) {
      throw new Error(`not ready within ${READY_TIMEOUT_MS} ms`, { cause: lastError });
    }
    await sleep(20);
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launchLocal(spec: LaunchSpec, configDir: string): Promise<RunningServer> {
  const binary = findNatsServerBinary();
  const configPath = join(configDir, 'nats-server.conf');
  await writeFile(configPath, renderConfig(`127.0.0.1:${spec.port}`, spec.storeDir, spec));

  installExitHook();
  const [command, args] = natsServerCommand(binary, configPath);
  // its own process group: a terminal's Ctrl-C reaches only our process, which stops it in order
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  const output = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => output.append(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.append(chunk));
  let spawnError: Error | undefined;
  // 'close' comes after the last output; 'error' alone (spawn failed) may never be followed by 'close'.
  const gone = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      liveChildren.delete(child);
      resolve(`could not spawn ${command}: ${error.message}`);
    });
    child.once('close', (code, signal) => resolve(`exited (code ${code}, signal ${signal}) before it was ready`));
  });

  try {
    await waitForInfo('127.0.0.1', spec.port, gone);
  } catch (error) {
    if (spawnError === undefined && !hasExited(child)) {
      child.kill('SIGKILL');
      await gone;
    }
    throw new NatsServerError(
      'SLUICE_TESTING_NATS_START_FAILED',
      `${binary} did not start on 127.0.0.1:${spec.port}: ${(error as Error).message}\n${output.toString()}`,
      { cause: error },
    );
  }

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (hasExited(child) || spawnError !== undefined) return;
    const exited = waitForExit(child);
    child.kill(signal);
    const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
  };
  return {
    host: '127.0.0.1',
    pid: child.pid,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
  };
}

async function launchContainer(spec: LaunchSpec): Promise<RunningServer> {
  const { GenericContainer } = await import('testcontainers');
  const command = ['-c', CONTAINER_CONFIG_PATH];
  if (spec.jetstream) command.push('-js');
  let container;
  try {
    container = await new GenericContainer(NATS_IMAGE)
      .withExposedPorts({ container: CONTAINER_CLIENT_PORT, host: spec.port })
      .withCopyContentToContainer([
        {
          content: renderConfig(`0.0.0.0:${CONTAINER_CLIENT_PORT}`, CONTAINER_STORE_DIR, spec),
          target: CONTAINER_CONFIG_PATH,
        },
      ])
      .withBindMounts([{ source: spec.storeDir, target: CONTAINER_STORE_DIR, mode: 'rw' }])
      .withCommand(command)
      .start();
  } catch (error) {
    throw new NatsServerError(
      'SLUICE_TESTING_NATS_START_FAILED',
      `could not start ${NATS_IMAGE} on host port ${spec.port}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const host = container.getHost();
  const started = container;
  try {
    await waitForInfo(host, spec.port, new Promise<string>(() => undefined));
  } catch (error) {
    await started.stop({ timeout: 0 });
    throw new NatsServerError('SLUICE_TESTING_NATS_START_FAILED', (error as Error).message, { cause: error });
  }
  return {
    host,
    pid: undefined,
    stop: async () => {
      await started.stop({ timeout: STOP_GRACE_MS });
    },
    kill: async () => {
      await started.stop({ timeout: 0 });
    },
  };
}

function isAddressInUse(error: unknown): boolean {
  return error instanceof Error && /address already in use/i.test(error.message);
}

/**
 * Starts a nats-server for one test: in a `nats:2.10-alpine` container when a Docker engine answers,
 * otherwise the local `nats-server` binary, each on its own port and store dir.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServerHandle> {
  installExitHook();
  await sweepStaleTempDirs();
  const useContainer = opts.local === true ? false : await dockerAvailable();
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await makeTempDir('store'));
  if (!ownsStore) await mkdir(storeDir, { recursive: true });
  const configDir = useContainer ? undefined : await makeTempDir('conf');

  const launch: Launcher = (spec) =>
    configDir === undefined ? launchContainer(spec) : launchLocal(spec, configDir);
  const spec: LaunchSpec = {
    port: opts.port ?? (await freePort()),
    storeDir,
    jetstream: opts.jetstream ?? true,
    extraConfig: opts.extraConfig ?? '',
  };

  const removeTempDirs = async (): Promise<void> => {
    for (const dir of [ownsStore ? storeDir : undefined, configDir]) {
      if (dir === undefined) continue;
      await rm(dir, { recursive: true, force: true });
      ownedTempDirs.delete(dir);
    }
  };

  /** A port picked by us may be taken between freePort() and bind; a fixed one may linger briefly. */
  const launchWithRetry = async (portIsFixed: boolean): Promise<RunningServer> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await launch(spec);
      } catch (error) {
        if (!isAddressInUse(error) || attempt >= PORT_ATTEMPTS) throw error;
        if (portIsFixed) await sleep(100 * attempt);
        else spec.port = await freePort();
      }
    }
  };

  let current: RunningServer | undefined;
  try {
    current = await launchWithRetry(opts.port !== undefined);
  } catch (error) {
    await removeTempDirs();
    throw error;
  }
  const host = current.host;
  let stopped = false;

  return {
    url: `nats://${host}:${spec.port}`,
    port: spec.port,
    storeDir,
    get pid() {
      return current?.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const running = current;
      current = undefined;
      await running?.stop();
      await removeTempDirs();
    },
    async kill() {
      const running = current;
      current = undefined;
      await running?.kill();
    },
    async restart() {
      if (stopped) {
        throw new NatsServerError('SLUICE_TESTING_NATS_STOPPED', 'restart() after stop(): the store dir is gone');
      }
      const running = current;
      current = undefined;
      await running?.stop();
      current = await launchWithRetry(true);
    },
  };
}
