// Two things a purpose may ask of the agent beyond a login, end to end (simulated card → pcscd →
// reader agent → the real backend): a PIN-less tap, for a test purpose that takes one, and a
// card session whose terms the contract gives by another request field than a payment's (a
// library membership's link and unlink, the backend's own purposes), and an event's reception
// granting its points once. One card for the file, so the tests run one after another.
import test from 'ava';
import { randomBytes, X509Certificate } from 'node:crypto';
import { fileFixture, type Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { httpServer } from '@mykey/backend/test/helpers/jpki.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import type { Purpose, Tap } from '@mykey/backend/card-taps/purposes.ts';
import { canonicalChallenge, MEMBERSHIP_TERMS, PAYMENT_TERMS, type Challenge } from '@mykey/contracts/challenge-text.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { AgentError } from '../src/agent/errors.ts';
import { CardError } from '../src/jpki/errors.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';
import { readBody, relay } from './helpers/backend-stand-ins.ts';
import { runAgentCli, waitForCard, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { agentEnrolledAs, backendWithCard, enrolledAgent } from './helpers/counter.ts';
import { READER_NAME, type PcscStack } from './helpers/pcsc-stack.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

const PIN = '5820';
const REQUEST_ID = /^[0-9a-f-]{36}$/;
// A tap selects the JPKI application and its certificate once each, then reads: nothing else.
const SELECT_JPKI = '00A4040C0AD392F000260100000001';
const SELECT_CERTIFICATE = '00A4020C02000A';

/** What each test purpose's handler was handed, in order. */
const handed: Tap[] = [];

/** A test purpose a municipality's device asks for with a tap: the handler answers from the card it was handed. */
const tapPurpose: Purpose = {
  name: 'test_tap', proofs: ['tap'], deviceKinds: ['municipality'], valueMoving: false,
  handle: async (_trx, tap) => {
    handed.push(tap);
    return { handledSerial: tap.card.serialHex, proof: tap.card.proof };
  },
};

/** The terms a stand-in backend offers for a membership request. */
const LIBRARY = { serviceId: 7, serviceName: 'みらい図書館', memberNumber: 'L0012345' };

const fixture = fileFixture(test, async (cleanup) => {
  const { base, stack } = await backendWithCard(cleanup, PIN, [tapPurpose]);
  const staff = await signInStaff(base, 'demo-city');
  const { agent, deviceId } = await enrolledAgent(cleanup, stack, base, staff, 'ゲート1');
  // The gate serves the town's library, and the card has a MyKey ID to link a membership to.
  const library = (await staff.post('/api/v1/services', { kind: 'library', nameJa: 'みらい市立図書館', nameEn: 'Mirai City Library' })).body;
  await staff.put(`/api/v1/services/${library.id}/devices`, { deviceIds: [deviceId] });
  const login = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(JSON.stringify(login.body));
  return { base, staff, stack, agent, library, serial: new X509Certificate(stack.certificatePem).serialNumber };
});

const apdus = (stack: PcscStack) => stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu');
const tap = (agent: RunningAgent, body: Record<string, unknown> = { purpose: 'test_tap' }) => agent.call('POST', '/v1/card-taps', body);
const membershipRequest = () => `mr_${randomBytes(16).toString('base64url')}`;

test.serial('a PIN-less tap: the certificate read in one short connection, no PIN, nothing signed; the backend\'s answer from the verified card', async (t) => {
  const { stack, agent, serial } = await fixture();
  const triesBefore = await stack.pinTriesLeft();
  const before = stack.apduLog().length;
  const reply = await tap(agent);
  t.is(reply.status, 200, JSON.stringify(reply.body));
  t.deepEqual(reply.body, { purpose: 'test_tap', revocationChecked: true, handledSerial: serial, proof: 'tap' });
  t.is(handed.filter((h) => h.card.serialHex === serial).length, 1);
  const during = stack.apduLog().slice(before);
  const commands = during.filter((r): r is ApduRecord => r.type === 'apdu').map((r) => r.command.toUpperCase());
  t.deepEqual(commands.slice(0, 2), [SELECT_JPKI, SELECT_CERTIFICATE]);
  t.true(commands.length > 2 && commands.slice(2).every((c) => c.startsWith('00B0')), commands.join(' '));
  t.is(await stack.pinTriesLeft(), triesBefore, 'no PIN try spent or asked');
  t.false(during.some((r) => r.type === 'power' && r.event === 'reset'), 'no PIN was verified, so the card is not reset');
});

test.serial('a tap for a purpose that wants the PIN: the backend\'s card_tap_not_allowed, in its own words', async (t) => {
  const { agent } = await fixture();
  const reply = await tap(agent, { purpose: 'login' });
  t.is(reply.status, 502);
  t.like(reply.body, { code: 'card_tap_not_allowed', messages: problemKinds.card_tap_not_allowed.messages, backendStatus: 403 });
  t.regex(reply.body.requestId, REQUEST_ID);
  t.like(await tap(agent, { purpose: 'never_registered' }), { status: 502, body: { code: 'request_invalid', backendStatus: 400 } });
});

test.serial('a tap without a card, on a reader that is not there, or on an agent never enrolled says so', async (t) => {
  const { stack, agent } = await fixture();
  t.like(await tap(agent, { purpose: 'test_tap', reader: 'Other Reader 00 00' }), { status: 404, body: { code: 'no_reader' } });
  const stranger = await agentEnrolledAs(t.teardown as Cleanup, stack, null);
  t.deepEqual(await tap(stranger), { status: 409, body: { code: 'not_enrolled', messages: new AgentError('not_enrolled').messages } });
  await stranger.stop();
  await stack.removeCard();
  t.teardown(async () => {
    await stack.insertCard();
    await waitForCard(agent);
  });
  await waitUntil(async () => !(await agent.call('GET', '/v1/status')).body.readers.some((r: { name: string; cardPresent: boolean }) => r.name === READER_NAME && r.cardPresent), 'the agent to see the card gone');
  t.deepEqual(await tap(agent), { status: 409, body: { code: 'no_card', messages: new CardError('no_card').messages } });
});

test.serial('the local API checks a tap\'s body: a purpose\'s name, the terms field only of a purpose with terms, nothing else', async (t) => {
  const { agent } = await fixture();
  for (const body of [{}, { purpose: 'Test Tap' }, { purpose: 'test_tap', pin: PIN }, { purpose: 'test_tap', membershipRequestId: membershipRequest() }, { purpose: 'service_link' }]) {
    t.like(await tap(agent, body), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(body));
  }
});

test.serial('a tap whose answer is lost on the way back is retried under the same Idempotency-Key: handled once', async (t) => {
  const { base, staff, stack, serial } = await fixture();
  const taps: string[] = [];
  const flaky = await httpServer(t.teardown, async (request, response) => {
    const answer = await relay(base, request, await readBody(request));
    if (request.url === '/api/v1/auth/card-taps' && taps.push(String(request.headers['idempotency-key'])) === 1) {
      request.socket.destroy();
      return;
    }
    response.writeHead(answer.status, { 'Content-Type': answer.contentType });
    response.end(answer.text);
  });
  const handledBefore = handed.length;
  const { agent } = await enrolledAgent(t.teardown as Cleanup, stack, base, staff, '回線不調のゲート', { backendUrl: flaky });
  t.like(await tap(agent), { status: 200, body: { handledSerial: serial } });
  t.is(taps.length, 2);
  t.is(taps[0], taps[1]);
  t.is(handed.length, handledBefore + 1, 'the handler ran once');
});

test.serial('the CLI: `tap --purpose P` prints the backend\'s answer; a refusal exits 1 in Japanese and English', async (t) => {
  const { agent, serial } = await fixture();
  const tapCli = (args: string[]) => runAgentCli(['tap', '--port', new URL(agent.base).port, ...args], agent.token);
  const run = await tapCli(['--purpose', 'test_tap']);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(JSON.parse(run.stdout), { purpose: 'test_tap', revocationChecked: true, handledSerial: serial, proof: 'tap' });
  const refused = await tapCli(['--purpose', 'login']);
  t.is(refused.code, 1);
  t.true(refused.stderr.includes(`カードのタッチを受け付けられませんでした: ${problemKinds.card_tap_not_allowed.messages.ja}`), refused.stderr);
  t.true(refused.stderr.includes(`The card tap was not taken: ${problemKinds.card_tap_not_allowed.messages.en}`), refused.stderr);
  t.regex(refused.stderr, /\(card_tap_not_allowed, request [0-9a-f-]{36}\)/);
  for (const args of [[], ['--purpose', 'Test Tap'], ['--purpose', 'test_tap', '--terms', membershipRequest()], ['--purpose', 'service_link'], ['--purpose', 'test_tap', '--pin', PIN]]) {
    t.is((await tapCli(args)).code, 2, args.join(' '));
  }
});

const link = (agent: RunningAgent, membershipRequestId: string) => agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'service_link', membershipRequestId });

test.serial('a membership link and unlink: the card signs the terms of the request asked for, by the contract\'s field; the local API and the CLI take it', async (t) => {
  const { stack, agent, staff, library } = await fixture();
  const request = async (action: string) => (await staff.post(`/api/v1/services/${library.id}/membership-requests`, { action, memberNumber: 'L0012345' })).body.requestId as string;
  const requestId = await request('link');
  const reply = await link(agent, requestId);
  t.is(reply.status, 200, JSON.stringify(reply.body));
  t.like(reply.body, { purpose: 'service_link', service: { id: library.id }, membership: { memberNumber: 'L0012345' }, revocationChecked: true });
  const logged = agent.output().split('\n').filter((line) => line.includes('"service_link to sign"')).map((line) => JSON.parse(line));
  t.like(logged.at(-1), { requestId, serviceId: library.id, serviceName: 'みらい市立図書館', memberNumber: 'L0012345' });

  const viaCli = await request('unlink');
  const run = await runAgentCli(['login', '--port', new URL(agent.base).port, '--purpose', 'service_unlink', '--terms', viaCli], agent.token, `${PIN}\n`);
  t.is(run.code, 0, run.stderr);
  t.like(JSON.parse(run.stdout), { purpose: 'service_unlink', unlinked: { memberNumber: 'L0012345' } });
  t.deepEqual(pinLeaks(`${agent.output()}\n${run.stdout}${run.stderr}\n${stack.sentToCard()}`, PIN), [], 'the PIN in a log');

  for (const body of [{ purpose: 'service_link' }, { purpose: 'login', membershipRequestId: membershipRequest() }, { purpose: 'service_link', membershipRequestId: 'mr_short' },
    { purpose: 'service_link', paymentIntentId: `pi_${'A'.repeat(22)}` }]) {
    t.like(await agent.call('POST', '/v1/card-sessions', { pin: PIN, ...body }), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(body));
  }
  t.is((await runAgentCli(['login', '--port', new URL(agent.base).port, '--purpose', 'service_link'], agent.token, PIN)).code, 2);
  t.is((await runAgentCli(['login', '--port', new URL(agent.base).port, '--purpose', 'payment', '--terms', viaCli], agent.token, PIN)).code, 2);
});

test.serial('a backend whose membership terms name another request than the one asked for, or a payment\'s terms, gets nothing signed', async (t) => {
  const { stack } = await fixture();
  const deviceId = 9;
  const asked = membershipRequest();
  const challenge = (terms: Record<string, unknown>, lines: string[]) => {
    const c: Challenge = { id: randomBytes(32).toString('base64url'), deviceId, purpose: 'service_link', expiresAt: new Date(Date.now() + 60_000) };
    return { challengeId: c.id, purpose: c.purpose, expiresAt: c.expiresAt.toISOString(), challenge: canonicalChallenge(c, lines).toString('base64'), ...terms };
  };
  const membership = (requestId: string) => {
    const terms = { requestId, ...LIBRARY };
    return challenge({ membership: terms }, MEMBERSHIP_TERMS.lines(terms));
  };
  // A stand-in for a malicious or mistaken server: challenges from `next`, and any card session taken.
  let next: unknown;
  const server = await httpServer(t.teardown, async (request, response) => {
    await readBody(request);
    response.writeHead(201, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(request.url === '/api/v1/auth/challenges' ? next : { purpose: 'service_link', linked: true }));
  });
  const agent = await agentEnrolledAs(t.teardown as Cleanup, stack, { backendUrl: server, deviceId, token: `mkd_${'A'.repeat(43)}` });
  const payment = { intentId: `pi_${'A'.repeat(22)}`, amount: 100, merchantId: 1 };
  const refused = {
    'another request': membership(membershipRequest()),
    'no membership terms': { ...membership(asked), membership: undefined },
    "a payment's terms beside": { ...membership(asked), payment },
    "a payment's terms instead": challenge({ payment }, PAYMENT_TERMS.lines(payment)),
  };
  for (const [what, answer] of Object.entries(refused)) {
    next = answer;
    const before = apdus(stack).length;
    t.deepEqual(await link(agent, asked), { status: 502, body: { code: 'challenge_not_canonical', messages: new AgentError('challenge_not_canonical').messages } }, what);
    t.is(apdus(stack).length, before, `${what}: not one APDU went to the card`);
  }
  // The same stand-in naming the request asked for: the card signs, so the refusals were the check's doing.
  next = membership(asked);
  t.like(await link(agent, asked), { status: 200, body: { linked: true } });
});

test.serial('an event\'s reception: a PIN-less tap through the agent grants the event\'s points once, a second tap and a tap with the PIN answer that first grant', async (t) => {
  const { base, staff, stack } = await fixture();
  const { agent, deviceId } = await enrolledAgent((fn) => t.teardown(fn), stack, base, staff, '清掃活動受付');
  const campaign = (await staff.get('/api/v1/staff/grants/campaigns')).body.campaigns.find((c: { kind: string }) => c.kind === 'event').id;
  const category = (await staff.get('/api/v1/event-categories')).body.categories.find((c: { nameJa: string }) => c.nameJa === 'ボランティア').id;
  const today = new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
  const event = (await staff.post('/api/v1/events', { nameJa: 'ボランティア清掃活動', nameEn: 'Volunteer clean-up', categoryId: category, startsOn: today, points: 50, campaignId: campaign, tapPolicy: 'tap' })).body;
  t.is((await staff.put(`/api/v1/events/${event.id}/devices`, { deviceIds: [deviceId] })).status, 200);

  const first = await tap(agent, { purpose: 'event_attendance' });
  t.is(first.status, 200, JSON.stringify(first.body));
  t.like(first.body, { purpose: 'event_attendance', alreadyGranted: false, event: { id: event.id }, grant: { points: 50, label: { ja: 'ボランティア清掃活動' } } });
  t.like(await tap(agent, { purpose: 'event_attendance' }), { status: 200, body: { alreadyGranted: true, grant: { entryId: first.body.grant.entryId } } });
  const withPin = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'event_attendance' });
  t.like(withPin, { status: 200, body: { alreadyGranted: true, grant: { entryId: first.body.grant.entryId }, balanceAfter: first.body.balanceAfter } });
});
