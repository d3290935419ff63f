// A counter PC for end-to-end tests: a private PC/SC stack whose simulated card comes from a CA
// the test's backend trusts, and the reader agent on it, enrolled as a device of the backend.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '@mykey/backend/db.ts';
import type { Purpose } from '@mykey/backend/card-taps/purposes.ts';
import { testDatabase, type Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { testPki, type Staff } from '@mykey/backend/test/helpers/identity.ts';
import { startApp, testIdentity } from '@mykey/backend/test/helpers/server.ts';
import { BackendClient } from '../../src/agent/backend-client.ts';
import { writeEnrollment, type EnrollmentRecord } from '../../src/agent/enrollment.ts';
import { issueCrl, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import { startAgent, waitForCard, type RunningAgent } from './agent.ts';
import { startPcscStack, type PcscStack } from './pcsc-stack.ts';

export function tempDir(cleanup: Cleanup): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mykey-counter-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A private PC/SC stack whose simulated card, with `pin`, holds a certificate issued by `ca`; `simulatorArgs` add to the simulator's. */
export async function stackWithCardFrom(cleanup: Cleanup, ca: CertificateAuthority, pin: string, simulatorArgs: string[] = []): Promise<PcscStack> {
  const dir = tempDir(cleanup);
  writeFileSync(path.join(dir, 'ca.pem'), ca.certificatePem);
  writeFileSync(path.join(dir, 'ca.key.pem'), ca.privateKeyPem, { mode: 0o600 });
  const stack = await startPcscStack({ simulatorArgs: ['--pin', pin, '--ca', path.join(dir, 'ca.pem'), '--ca-key', path.join(dir, 'ca.key.pem'), ...simulatorArgs] });
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
 * current CRL (so a value-moving card session is not refused for want of one), and the card-tap
 * `purposes` a test registers beside the platform's own. Its `identity` takes a later CRL.
 */
export async function trustingBackend(cleanup: Cleanup, purposes: Purpose[] = []): Promise<{ db: Db; base: string; ca: CertificateAuthority; identity: ReturnType<typeof testIdentity> }> {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const { ca } = await testPki();
  const identity = testIdentity(db, [ca.certificate]);
  await identity.addCrl((await issueCrl(ca, { revoked: [], nextUpdate: new Date(Date.now() + 86_400_000) })).der);
  return { db, base: await startApp(cleanup, db, { identity, purposes }), ca, identity };
}

/** trustingBackend (with `purposes`), and a card from its CA, with `pin`, on a private PC/SC stack. */
export async function backendWithCard(cleanup: Cleanup, pin: string, purposes: Purpose[] = []): Promise<{ db: Db; base: string; ca: CertificateAuthority; stack: PcscStack }> {
  const backend = await trustingBackend(cleanup, purposes);
  return { ...backend, stack: await stackWithCardFrom(cleanup, backend.ca, pin) };
}

/**
 * A counter PC of its own for a test: a fresh card with `pin` from `backend`'s CA on a private
 * stack (with `simulatorArgs`), and an agent on it enrolled by `backend.staff`, once it sees the card.
 */
export async function counterPc(cleanup: Cleanup, backend: { base: string; ca: CertificateAuthority; staff: Staff }, pin: string, simulatorArgs: string[] = []) {
  const stack = await stackWithCardFrom(cleanup, backend.ca, pin, simulatorArgs);
  const { agent, deviceId } = await enrolledAgent(cleanup, stack, backend.base, backend.staff, `カウンター ${stack.vpcdPort}`);
  return { stack, agent, deviceId };
}
