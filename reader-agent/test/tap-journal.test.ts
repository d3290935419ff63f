// The counter's journal, end to end (simulated card → pcscd → reader agent → the real backend):
// cut off from the backend, the agent keeps the taps of a purpose that may wait, signed, on disk;
// a restarted agent still has them and shows how many wait; once the backend is reachable again
// they are recorded in order, each once, at the time the card was tapped.
import test from 'ava';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import type { Purpose, Tap } from '@mykey/backend/card-taps/purposes.ts';
import { BackendClient } from '../src/agent/backend-client.ts';
import { writeEnrollment, type EnrollmentRecord } from '../src/agent/enrollment.ts';
import { startAgent, waitForCard, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { backendWithCard, tempDir } from './helpers/counter.ts';
import { network } from './helpers/network.ts';

const PIN = '4711';

/** What the test purpose's handler was handed, in order. */
const handed: Tap[] = [];

/** A purpose whose taps may wait in a counter's journal (as a shelter's check-in). */
const journaledPurpose: Purpose = {
  name: 'test_check_in', proofs: ['tap'], deviceKinds: ['municipality'], valueMoving: false, journaled: true,
  handle: async (_trx, tap) => {
    handed.push(tap);
    return { checkedInAt: tap.now.toISOString() };
  },
};

const fixture = fileFixture(test, async (cleanup) => {
  const { base, stack } = await backendWithCard(cleanup, PIN, [journaledPurpose]);
  const staff = await signInStaff(base, 'demo-city');
  const link = await network(cleanup, base);
  const issued = await staff.post('/api/v1/staff/device-enrollment-codes', { name: '避難所受付' });
  const { deviceId, token } = await new BackendClient(base).enroll(issued.body.code);
  const home = tempDir(cleanup);
  const enrollment: EnrollmentRecord = { backendUrl: link.url, deviceId, token };
  writeEnrollment(path.join(home, 'mykey', 'reader-agent-enrollment.json'), enrollment);
  /** The counter's agent on its PC: the same configuration directory (enrollment, journal, key) every start. */
  const startCounter = async (): Promise<RunningAgent> => {
    const agent = await startAgent({ env: { ...stack.env, XDG_CONFIG_HOME: home } });
    cleanup(() => agent.stop());
    await waitForCard(agent);
    return agent;
  };
  return { link, stack, startCounter, serial: new X509Certificate(stack.certificatePem).serialNumber };
});

const checkIn = (agent: RunningAgent) => agent.call('POST', '/v1/card-taps', { purpose: 'test_check_in', offline: 'journal' });
const waiting = async (agent: RunningAgent): Promise<number> => (await agent.call('GET', '/v1/status')).body.journal.waiting;

test('cut off from the backend, taps wait in the journal through a restart; back online, each is recorded once, in order, at its own time', async (t) => {
  const { link, startCounter, serial } = await fixture();
  let agent = await startCounter();
  const online = await checkIn(agent);
  t.is(online.status, 200, JSON.stringify(online.body));
  t.false('journaled' in online.body, 'with the backend there, the tap is recorded at once');
  t.is(handed.length, 1);

  await link.cut();
  const kept: Array<{ id: string; tappedAt: string }> = [];
  for (let n = 1; n <= 3; n++) {
    const reply = await checkIn(agent);
    t.is(reply.status, 200, JSON.stringify(reply.body));
    t.like(reply.body, { purpose: 'test_check_in', journaled: true, waiting: n });
    kept.push({ id: reply.body.id, tappedAt: reply.body.tappedAt });
  }
  t.is(await waiting(agent), 3);

  await agent.stop();
  agent = await startCounter();
  t.is(await waiting(agent), 3, 'the journal survived the restart');
  t.is(handed.length, 1, 'nothing reached the backend meanwhile');

  await link.restore();
  await waitUntil(async () => (await waiting(agent)) === 0, 'the journal to be sent', 60_000);
  const recorded = handed.slice(1);
  t.deepEqual(recorded.map((tap) => tap.now.toISOString()), kept.map((entry) => entry.tappedAt), 'in order, each at the time it was tapped');
  t.true(recorded.every((tap) => tap.card.serialHex.toUpperCase() === serial.toUpperCase() && tap.card.proof === 'tap'));

  // A tap now goes straight through again.
  t.false('journaled' in (await checkIn(agent)).body);
  t.is(handed.length, 5);
});
