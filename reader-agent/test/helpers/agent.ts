// The reader agent as a child process on a private PC/SC stack, as it runs on a counter PC.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { READY_WITHIN_MS } from '@mykey/backend/test/helpers/processes.ts';
import { startPcscStack, type PcscStack } from './pcsc-stack.ts';

export const CONSOLE_ORIGIN = 'http://127.0.0.1:3000';

export interface RunningAgent {
  base: string;
  token: string;
  child: ChildProcess;
  output(): string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * The agent on `stack`'s pcscd (its env: add XDG_CONFIG_HOME for an enrollment of its own),
 * ready once it sees the reader, or with `seeReader: false` as soon as it answers. It allows
 * `allowOrigins` (default CONSOLE_ORIGIN); `call` speaks as the first of them.
 */
export async function startAgent(stack: Pick<PcscStack, 'env'>, options: { seeReader?: boolean; allowOrigins?: string[] } = {}): Promise<RunningAgent> {
  const origins = options.allowOrigins ?? [CONSOLE_ORIGIN];
  const port = await freePort();
  const token = randomBytes(24).toString('base64url');
  // The agent reads its enrollment from $XDG_CONFIG_HOME/mykey. Unless the caller chose a
  // directory, it gets an empty one of its own: no test may see the developer's enrollment.
  const ownConfig = stack.env.XDG_CONFIG_HOME === process.env.XDG_CONFIG_HOME ? mkdtempSync(path.join(tmpdir(), 'mykey-agent-config-')) : undefined;
  const env = { ...stack.env, ...(ownConfig ? { XDG_CONFIG_HOME: ownConfig } : {}), READER_AGENT_TOKEN: token };
  const child = spawn(process.execPath, ['--import', 'tsx', 'reader-agent/src/agent/main.ts', '--port', String(port), ...origins.flatMap((origin) => ['--allow-origin', origin])],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('exit', () => {
    if (ownConfig) rmSync(ownConfig, { recursive: true, force: true });
  });
  let output = '';
  child.stdout!.on('data', (chunk) => { output += chunk; });
  child.stderr!.on('data', (chunk) => { output += chunk; });
  const base = `http://127.0.0.1:${port}`;
  const call: RunningAgent['call'] = async (method, path, body, headers = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, Origin: origins[0]!, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const agent: RunningAgent = {
    base, token, child, call, output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
  // As long as the stack's own waits: starting node with tsx on a busy machine is slow.
  await waitUntil(async () => {
    if (child.exitCode !== null) throw new Error(`agent exited:\n${output}`);
    const status = await call('GET', '/v1/status').catch(() => undefined);
    return options.seeReader === false ? status?.status === 200 : status?.body.readers?.length > 0;
  }, `the agent to see the reader:\n${output}`, READY_WITHIN_MS);
  return agent;
}

/**
 * Waits until the agent shows a card in the reader. startAgent returns once it sees the
 * reader; the card's status arrives a moment later (each reader reports on its own), and a
 * request in between would get "no card".
 */
export async function waitForCard(agent: RunningAgent, reader = 'Virtual PCD 00 00', timeoutMs = 60_000): Promise<void> {
  await waitUntil(async () => {
    const { body } = await agent.call('GET', '/v1/status');
    return body.available === true && body.readers.some((r: { name: string; cardPresent: boolean }) => r.name === reader && r.cardPresent);
  }, `the agent to see the card in ${reader}`, timeoutMs);
}

/**
 * The resident takes the card off the reader and places it again, slowly enough for the agent
 * to see it gone (a hand does not beat pcscd's polling either).
 */
export async function presentCardAgain(stack: Pick<PcscStack, 'removeCard' | 'insertCard'>, agent: RunningAgent, reader = 'Virtual PCD 00 00'): Promise<void> {
  await stack.removeCard();
  await waitUntil(async () => {
    const { body } = await agent.call('GET', '/v1/status');
    return body.readers.some((r: { name: string; cardPresent: boolean }) => r.name === reader && !r.cardPresent);
  }, `the agent to see the card gone from ${reader}`, 60_000);
  await stack.insertCard();
  await waitForCard(agent, reader);
}

export async function waitUntil(probe: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface CliRun { code: number; stdout: string; stderr: string }

/**
 * `npm run reader-agent -- <args>` as a clerk runs it on the counter PC, with the agent's
 * `token` in its environment and `stdin` typed in (a PIN); answers its exit code and output.
 */
export function runAgentCli(args: string[], token: string, stdin = ''): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'reader-agent/src/agent/main.ts', ...args], { env: { ...process.env, READER_AGENT_TOKEN: token }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
    child.stdin!.end(stdin);
  });
}
