import { spawn, type ChildProcess } from 'node:child_process';
import { rootDir } from '@mykey/dev-tools/paths.ts';

export interface Child { name: string; process: ChildProcess; exited: Promise<number | null> }

/** Starts a long-running part of the platform with its output prefixed by its name. */
export function startChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  // Own process group: Ctrl-C reaches only the orchestrator, which stops the parts in order.
  const child = spawn(process.execPath, args, { cwd: rootDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
  };
  prefix(child.stdout!, process.stdout);
  prefix(child.stderr!, process.stderr);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, process: child, exited };
}

/** Asks a child to stop (SIGTERM), and kills it if it has not within `graceMs`. */
export async function stopChild(child: Child, graceMs = 35_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}
