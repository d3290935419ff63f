// What enrolling left on this PC: the backend, the device id and its bearer token, in a file
// only this user can read, next to the pairing token.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const record = z.object({
  backendUrl: z.url({ protocol: /^https?$/ }),
  deviceId: z.number().int().positive(),
  token: z.string().regex(/^mkd_[A-Za-z0-9_-]{43}$/),
});

export type EnrollmentRecord = z.infer<typeof record>;

/** ~/.config/mykey, or $XDG_CONFIG_HOME/mykey (tests point that at a directory of their own). */
export function configDir(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'mykey');
}

export function defaultEnrollmentFile(): string {
  return path.join(configDir(), 'reader-agent-enrollment.json');
}

/** The pairing token the agent makes on first start; `login` reads it to call the agent. */
export function defaultTokenFile(): string {
  return path.join(configDir(), 'reader-agent-token');
}

/** Written whole or not at all (a crash mid-write leaves the old file), readable by this user only. */
export function writeEnrollment(file: string, enrollment: EnrollmentRecord): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, `${JSON.stringify(record.parse(enrollment), null, 2)}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, file);
}

export type EnrollmentState =
  | { enrolled: true; enrollment: EnrollmentRecord }
  | { enrolled: false; problem?: string };

/** The enrollment on file; a missing file is "not enrolled", a damaged one says what is wrong. */
export function readEnrollment(file: string): EnrollmentState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { enrolled: false };
    return { enrolled: false, problem: `cannot read ${file}: ${(error as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { enrolled: false, problem: `${file} is not JSON; enroll again` };
  }
  const result = record.safeParse(parsed);
  return result.success ? { enrolled: true, enrollment: result.data } : { enrolled: false, problem: `${file} is not an enrollment; enroll again` };
}
