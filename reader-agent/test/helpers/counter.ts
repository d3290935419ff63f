// A counter PC for end-to-end tests: a private PC/SC stack whose simulated card comes from a CA
// the test's backend trusts, and the reader agent on it, enrolled as a device of the backend.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '../../../backend/src/db.ts';
import { testDatabase, type Cleanup } from '../../../backend/test/helpers/env.ts';
import { testPki, type Staff } from '../../../backend/test/helpers/identity.ts';
import { startApp, testIdentity } from '../../../backend/test/helpers/server.ts';
import { BackendClient } from '../../src/agent/backend-client.ts';
import { writeEnrollment, type EnrollmentRecord } from '../../src/agent/enrollment.ts';
import { issueCrl, type CertificateAuthority } from '../../src/dev-ca/index.ts';
import { startAgent, waitForCard, type RunningAgent } from './agent.ts';
import { startPcscStack, type PcscStack } from './pcsc-stack.ts';

export function tempDir(cleanup: Cleanup): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mykey-counter-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A private PC/SC stack whose simulated card, with `pin`, holds a certificate issued by `ca`. */
export async function stackWithCardFrom(cleanup: Cleanup, ca: CertificateAuthority, pin: string): Promise<PcscStack> {
  const dir = tempDir(cleanup);
  writeFileSync(path.join(dir, 'ca.pem'), ca.certificatePem);
  writeFileSync(path.join(dir, 'ca.key.pem'), ca.privateKeyPem, { mode: 0o600 });
  const stack = await startPcscStack({ simulatorArgs: ['--pin', pin, '--ca', path.join(dir, 'ca.pem'), '--ca-key', path.join(dir, 'ca.key.pem')] });
  cleanup(() => stack.stop());
  return stack;
}

/**
 * An agent on `stack` with `enrollment` on file (null: never enrolled), once it sees the card;
 * it allows `allowOrigins` (default the helper's CONSOLE_ORIGIN).
 */
export async function agentEnrolledAs(cleanup: Cleanup, stack: PcscStack, enrollment: EnrollmentRecord | null, allowOrigins?: string[]): Promise<RunningAgent> {
  const home = tempDir(cleanup);
  if (enrollment) writeEnrollment(path.join(home, 'mykey', 'reader-agent-enrollment.json'), enrollment);
  const agent = await startAgent({ env: { ...stack.env, XDG_CONFIG_HOME: home } }, { allowOrigins });
  cleanup(() => agent.stop());
  await waitForCard(agent);
  return agent;
}

/** A device enrolled with a code `staff` issued; its agent talks to the backend at `options.backendUrl` (default `base`). */
export async function enrolledAgent(cleanup: Cleanup, stack: PcscStack, base: string, staff: Staff, name: string, options: { backendUrl?: string; allowOrigins?: string[] } = {}) {
  const issued = await staff.post('/api/v1/staff/device-enrollment-codes', { name });
  if (issued.status !== 201) throw new Error(JSON.stringify(issued.body));
  const { deviceId, token } = await new BackendClient(base).enroll(issued.body.code);
  return { deviceId, agent: await agentEnrolledAs(cleanup, stack, { backendUrl: options.backendUrl ?? base, deviceId, token }, options.allowOrigins) };
}

/**
 * The real backend on a seeded database of the file's own, trusting a CA made for it, with a
 * current CRL (so a value-moving card session is not refused for want of one); and a card from
 * that CA, with `pin`, on a private PC/SC stack.
 */
export async function backendWithCard(cleanup: Cleanup, pin: string): Promise<{ db: Db; base: string; stack: PcscStack }> {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const { ca } = await testPki();
  const stack = await stackWithCardFrom(cleanup, ca, pin);
  const identity = testIdentity(db, [ca.certificate]);
  await identity.addCrl((await issueCrl(ca, { revoked: [], nextUpdate: new Date(Date.now() + 86_400_000) })).der);
  return { db, base: await startApp(cleanup, db, { identity }), stack };
}
