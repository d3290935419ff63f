// A resident logs in with the card, end to end: simulated card → pcscd → reader agent → the
// real backend. The card's certificate is issued by a CA made for this file, which the backend
// trusts; the agent is enrolled with a code staff issued. Every test shares one card (its PIN
// tries counter too) and some share the agent, so they run one after another.
import test from 'ava';
import { createVerify, randomBytes, X509Certificate } from 'node:crypto';
import http from 'node:http';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { httpServer } from '@mykey/backend/test/helpers/jpki.ts';
import { signInStaff, testPki } from '@mykey/backend/test/helpers/identity.ts';
import type { Db } from '@mykey/backend/db.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { parseMykeyId } from '@mykey/backend/mykey/id.ts';
import { canonicalChallenge, type Challenge } from '@mykey/contracts/challenge-text.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { AgentError } from '../src/agent/errors.ts';
import { CardError } from '../src/jpki/errors.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';
import { readBody, relay } from './helpers/backend-stand-ins.ts';
import { presentCardAgain, runAgentCli, waitForCard, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { agentEnrolledAs, backendWithCard, counterPc, enrolledAgent, stackWithCardFrom } from './helpers/counter.ts';
import { READER_NAME, type PcscStack } from './helpers/pcsc-stack.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

const PIN = '7294';
const WRONG_PIN = '8051';
// A login selects the JPKI application, the certificate 000A, the PIN 0018 and the key 0017: nothing else.
const LOGIN_SELECTS = new Set(['00A4040C0AD392F000260100000001', '00A4020C02000A', '00A4020C020018', '00A4020C020017']);
const REQUEST_ID = /^[0-9a-f-]{36}$/;

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, ca, stack } = await backendWithCard(cleanup, PIN);
  const staff = await signInStaff(base, 'demo-city');
  return { db, base, ca, staff, stack, counter: await enrolledAgent(cleanup, stack, base, staff, 'カウンター1') };
});

/** A second card, from a CA the backend has never heard of, on a stack and agent of its own. */
const strangerFixture = fileFixture(test, async (cleanup) => {
  const { base, staff } = await fixture();
  const stack = await stackWithCardFrom(cleanup, (await testPki()).ca, PIN);
  return (await enrolledAgent(cleanup, stack, base, staff, 'カウンター2')).agent;
});

/** The commands the card received (the log also has power and insertion events, which pcscd causes by itself). */
function apdus(stack: PcscStack): ApduRecord[] {
  return stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu');
}

function login(agent: RunningAgent, pin = PIN, purpose = 'login') {
  return agent.call('POST', '/v1/card-sessions', { pin, purpose });
}

async function challengeCounts(db: Db, deviceId: number) {
  const rows = await db('auth_challenges').where({ device_id: deviceId }).select('signed_at');
  return { signed: rows.filter((r) => r.signed_at !== null).length, unsigned: rows.filter((r) => r.signed_at === null).length };
}

test.serial('the first login issues a MyKey ID; the same card again gets the same ID', async (t) => {
  const { counter } = await fixture();
  const first = await login(counter.agent);
  t.is(first.status, 200, JSON.stringify(first.body));
  t.like(first.body, { purpose: 'login', issued: true, revocationChecked: true });
  t.like(parseMykeyId(first.body.mykeyId), { ok: true, id: first.body.mykeyId });
  const again = await login(counter.agent);
  t.is(again.status, 200, JSON.stringify(again.body));
  t.like(again.body, { purpose: 'login', mykeyId: first.body.mykeyId, issued: false });
});

test.serial('a wrong PIN: the tries left, and the challenge it fetched stays unsigned; the right PIN then logs in once the card is placed again', async (t) => {
  const { db, stack, counter } = await fixture();
  const before = await challengeCounts(db, counter.deviceId);
  const wrong = await login(counter.agent, WRONG_PIN);
  t.is(wrong.status, 422);
  t.deepEqual(wrong.body, { code: 'pin_wrong', messages: new CardError('pin_wrong', { triesLeft: 2 }).messages, triesLeft: 2 });
  t.deepEqual(await challengeCounts(db, counter.deviceId), { signed: before.signed, unsigned: before.unsigned + 1 });

  const malformed = await login(counter.agent, '12');
  t.like(malformed, { status: 400, body: { code: 'pin_format' } });
  t.deepEqual(await challengeCounts(db, counter.deviceId), { signed: before.signed, unsigned: before.unsigned + 1 }, 'a PIN that cannot be right costs no challenge');

  const early = await login(counter.agent);
  t.like(early, { status: 409, body: { code: 'pin_needs_card_again' } });
  t.deepEqual(await challengeCounts(db, counter.deviceId), { signed: before.signed, unsigned: before.unsigned + 1 }, 'a PIN the card may not see yet costs no challenge');

  await presentCardAgain(stack, counter.agent);
  const right = await login(counter.agent);
  t.is(right.status, 200, JSON.stringify(right.body));
  t.deepEqual(await challengeCounts(db, counter.deviceId), { signed: before.signed + 1, unsigned: before.unsigned + 1 });
  t.is(await stack.pinTriesLeft(), 3, 'the right PIN reset the tries');
});

test.serial('no card on the reader: no_card, in the agent\'s words', async (t) => {
  const { stack, counter } = await fixture();
  await stack.removeCard();
  t.teardown(async () => {
    await stack.insertCard();
    await waitForCard(counter.agent);
  });
  await waitUntil(async () => !(await counter.agent.call('GET', '/v1/status')).body.readers.some((r: { name: string; cardPresent: boolean }) => r.name === READER_NAME && r.cardPresent), 'the agent to see the card gone');
  const reply = await login(counter.agent);
  t.is(reply.status, 409);
  t.deepEqual(reply.body, { code: 'no_card', messages: new CardError('no_card').messages });
});

test.serial('a card whose certificate the backend does not trust: certificate_untrusted, the backend\'s own words', async (t) => {
  const stranger = await strangerFixture();
  const reply = await login(stranger);
  t.is(reply.status, 502);
  t.like(reply.body, { code: 'certificate_untrusted', messages: problemKinds.certificate_untrusted.messages, backendStatus: 401 });
  t.regex(reply.body.requestId, REQUEST_ID);
});

test.serial('a revoked device: device_unknown, the backend\'s own words', async (t) => {
  const town = await fixture();
  // A PC of its own, as a revoked device is: not a second agent on the counter's reader.
  const { agent, deviceId } = await counterPc(t.teardown, town, PIN);
  const { staff } = town;
  t.is((await login(agent)).status, 200);
  t.is((await staff.post(`/api/v1/staff/devices/${deviceId}/revocation`, {})).status, 200);
  const reply = await login(agent);
  t.is(reply.status, 502);
  t.like(reply.body, { code: 'device_unknown', messages: problemKinds.device_unknown.messages, backendStatus: 401 });
});

test.serial('an agent never enrolled says so, in Japanese and English, and how to enroll', async (t) => {
  const { stack } = await fixture();
  const agent = await agentEnrolledAs(t.teardown, stack, null);
  const reply = await login(agent);
  t.is(reply.status, 409);
  t.deepEqual(reply.body, { code: 'not_enrolled', messages: new AgentError('not_enrolled').messages });
  t.regex(reply.body.messages.ja, /端末（カードリーダー）.*npm run reader-agent -- enroll/);
  t.regex(reply.body.messages.en, /npm run reader-agent -- enroll CODE --backend/);
});

test.serial('the local API rules hold: pairing token, console origin, loopback host, a known purpose', async (t) => {
  const { counter } = await fixture();
  const body = { pin: PIN, purpose: 'login' };
  t.like(await counter.agent.call('POST', '/v1/card-sessions', body, { Authorization: 'Bearer wrong' }), { status: 401, body: { code: 'pairing_required' } });
  t.like(await counter.agent.call('POST', '/v1/card-sessions', body, { Origin: 'https://evil.example' }), { status: 403, body: { code: 'origin_forbidden' } });
  t.is(await postWithHost(counter.agent, '/v1/card-sessions', body, 'evil.example'), 403);
  t.like(await counter.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'payment' }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await counter.agent.call('POST', '/v1/card-sessions', { pin: PIN }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await counter.agent.call('POST', '/v1/card-sessions', { ...body, challenge: 'AA==' }), { status: 400, body: { code: 'request_invalid' } });
  t.is((await login(counter.agent)).status, 200, 'the same call with everything right');
});

/** fetch will not send a Host of our choosing; node:http will. */
function postWithHost(agent: RunningAgent, urlPath: string, body: unknown, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${agent.base}${urlPath}`, { method: 'POST', headers: { Host: host, Authorization: `Bearer ${agent.token}`, 'Content-Type': 'application/json' } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}



test.serial('a backend that hands out anything but the canonical challenge for this device and purpose gets nothing signed', async (t) => {
  const { stack } = await fixture();
  const deviceId = 7;
  const challenge = (fields: Partial<Challenge> = {}) => {
    const c: Challenge = { id: randomBytes(32).toString('base64url'), deviceId, purpose: 'login', expiresAt: new Date(Date.now() + 60_000), ...fields };
    return { challengeId: c.id, purpose: c.purpose, expiresAt: c.expiresAt.toISOString(), challenge: canonicalChallenge(c).toString('base64') };
  };
  const withText = (answer: ReturnType<typeof challenge>, text: Buffer) => ({ ...answer, challenge: text.toString('base64') });
  // A stand-in for a malicious or mistaken server: it answers challenges from `next`, and takes card sessions.
  let next: unknown;
  const cardSessions: Array<{ challengeId: string; certificate: string; signature: string }> = [];
  const evil = await httpServer(t.teardown, async (request, response) => {
    const body = await readBody(request);
    if (request.url === '/api/v1/auth/card-sessions') cardSessions.push(JSON.parse(body.toString('utf8')));
    const answer = request.url === '/api/v1/auth/challenges' ? next : { purpose: 'login', mykeyId: 'EVILEVIL', issued: false };
    response.writeHead(201, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(answer));
  });
  const agent = await agentEnrolledAs(t.teardown, stack, { backendUrl: evil, deviceId, token: `mkd_${'A'.repeat(43)}` });

  const honest = challenge();
  const refused: Record<string, unknown> = {
    'arbitrary bytes': withText(honest, Buffer.from('振込 100,000 円を承認します')),
    'a bare SHA-256 digest': withText(honest, randomBytes(32)),
    'the challenge of another device': challenge({ deviceId: 8 }),
    'a challenge for another purpose': challenge({ purpose: 'relink' }),
    'another purpose in the text only': { ...challenge({ purpose: 'relink' }), purpose: 'login' },
    'an extra line': withText(honest, Buffer.concat([Buffer.from(honest.challenge, 'base64'), Buffer.from('amount: 100000\n')])),
    'text about another challenge id': { ...honest, challengeId: randomBytes(32).toString('base64url') },
    'an expiry other than the text\'s': { ...honest, expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    'an id that could break the text': challenge({ id: `${'A'.repeat(20)}\npurpose: login` }),
    'no challenge at all': { challengeId: honest.challengeId, purpose: 'login', expiresAt: honest.expiresAt, challenge: 42 },
  };
  for (const [what, answer] of Object.entries(refused)) {
    next = answer;
    const apdusBefore = apdus(stack).length;
    const reply = await login(agent);
    t.is(reply.status, 502, what);
    t.deepEqual(reply.body, { code: 'challenge_not_canonical', messages: new AgentError('challenge_not_canonical').messages }, what);
    t.is(apdus(stack).length, apdusBefore, `${what}: not one APDU went to the card`);
  }
  t.deepEqual(cardSessions, [], 'nothing signed was sent');

  // The same stand-in with an honest challenge: the card signs it, so the refusals above were the check's doing.
  next = challenge();
  const signed = await login(agent);
  t.like(signed, { status: 200, body: { mykeyId: 'EVILEVIL' } });
  t.is(cardSessions.length, 1);
  const { certificate, signature } = cardSessions[0]!;
  const key = new X509Certificate(Buffer.from(certificate, 'base64')).publicKey;
  t.true(createVerify('sha256').update(Buffer.from((next as { challenge: string }).challenge, 'base64')).verify(key, Buffer.from(signature, 'base64')));
});

test.serial('an answer lost on the way back: the retry carries the same Idempotency-Key and gets the first answer', async (t) => {
  const { base, staff, stack } = await fixture();
  // Between agent and backend: passes everything on, but cuts the connection instead of
  // returning the backend's first answer to a card session — after the backend acted on it.
  const cardSessions: Array<{ key: string; status: number }> = [];
  const flaky = await httpServer(t.teardown, async (request, response) => {
    const answer = await relay(base, request, await readBody(request));
    if (request.url === '/api/v1/auth/card-sessions') {
      cardSessions.push({ key: String(request.headers['idempotency-key'] ?? ''), status: answer.status });
      if (cardSessions.length === 1) {
        request.socket.destroy();
        return;
      }
    }
    response.writeHead(answer.status, { 'Content-Type': answer.contentType });
    response.end(answer.text);
  });
  const { agent } = await enrolledAgent(t.teardown, stack, base, staff, '回線不調の端末', { backendUrl: flaky });
  const reply = await login(agent);
  t.is(reply.status, 200, JSON.stringify(reply.body));
  t.like(parseMykeyId(reply.body.mykeyId), { ok: true });
  t.is(cardSessions.length, 2);
  t.is(cardSessions[0]!.key, cardSessions[1]!.key);
  t.deepEqual(cardSessions.map((c) => c.status), [201, 201], 'the retry was answered, not refused as challenge_reused');
});

test.serial('the card saw only the JPKI application and its login files, and no PIN is in any log', async (t) => {
  const { stack, counter } = await fixture();
  t.is((await login(counter.agent)).status, 200);
  t.like((await login(counter.agent, WRONG_PIN)).body, { code: 'pin_wrong' });
  await presentCardAgain(stack, counter.agent);
  t.is((await login(counter.agent)).status, 200);
  const records = apdus(stack);
  const selects = records.filter((r) => r.command.startsWith('00A4')).map((r) => r.command);
  t.true(selects.length > 0);
  t.deepEqual(selects.filter((command) => !LOGIN_SELECTS.has(command)), []);
  t.false(records.some((r) => r.offLimits));
  const logs = `${stack.sentToCard()}\n${counter.agent.output()}`;
  t.deepEqual(pinLeaks(logs, PIN, WRONG_PIN), []);

  // The search would find a leak in these very logs, in each shape one would take…
  const ascii = (pin: string) => Buffer.from(pin).toString('hex');
  const verify = records.find((r) => r.summary.startsWith('VERIFY'))!;
  const leaks = [
    JSON.stringify({ ...verify, command: `0020008004${ascii(PIN)}`, summary: `VERIFY ${ascii(PIN)}` }),
    JSON.stringify({ msg: 'card session', body: { pin: WRONG_PIN, purpose: 'login' } }),
    JSON.stringify({ msg: 'verify', data: ascii(WRONG_PIN).toUpperCase() }),
    `PIN: ${PIN} rejected`,
  ];
  for (const leak of leaks) t.not(pinLeaks(`${logs}\n${leak}`, PIN, WRONG_PIN).length, 0, leak);
  // …and none in random hex or numbers that hold the digits by chance.
  const chance = JSON.stringify({ digest: `ab${PIN}cd${ascii(PIN)}ef`, requestId: `${WRONG_PIN}e1f0-aaaa`, port: Number(`4${PIN}`), ms: Number(WRONG_PIN) });
  t.deepEqual(pinLeaks(`${logs}\n${chance}`, PIN, WRONG_PIN), []);
});

const loginCli = (args: string[], token: string, stdin: string) => runAgentCli(['login', ...args], token, stdin);

test.serial('the CLI: `login` with the PIN on stdin prints the MyKey ID as JSON; failures exit 1 in Japanese and English', async (t) => {
  const { stack, counter } = await fixture();
  const port = new URL(counter.agent.base).port;
  const { token } = counter.agent;

  const wrong = await loginCli(['--port', port], token, `${WRONG_PIN}\n`);
  t.is(wrong.code, 1);
  const { messages } = new CardError('pin_wrong', { triesLeft: 2 });
  t.true(wrong.stderr.includes(`ログインできませんでした: ${messages.ja}`), wrong.stderr);
  t.true(wrong.stderr.includes(`Login failed: ${messages.en}`));
  t.regex(wrong.stderr, /\(pin_wrong\)/);
  await presentCardAgain(stack, counter.agent);

  const run = await loginCli(['--port', port], token, `${PIN}\n`);
  t.is(run.code, 0, run.stderr);
  const printed = JSON.parse(run.stdout);
  t.like(printed, { purpose: 'login' });
  t.like(parseMykeyId(printed.mykeyId), { ok: true });
  const relink = await loginCli(['--port', port, '--purpose', 'relink'], token, PIN);
  t.is(relink.code, 0, relink.stderr);
  t.like(JSON.parse(relink.stdout), { purpose: 'relink', mykeyId: printed.mykeyId });
  // The resident's home move is a purpose the agent knows, signed through the same checks.
  const homeMove = await loginCli(['--port', port, '--purpose', 'home_move'], token, PIN);
  t.is(homeMove.code, 0, homeMove.stderr);
  t.like(JSON.parse(homeMove.stdout), { purpose: 'home_move', mykeyId: printed.mykeyId });
  for (const output of [wrong, run, relink, homeMove]) t.deepEqual(pinLeaks(`${output.stdout}${output.stderr}`, PIN, WRONG_PIN), [], 'a PIN printed');

  const untrusted = await loginCli(['--port', new URL((await strangerFixture()).base).port], (await strangerFixture()).token, PIN);
  t.is(untrusted.code, 1);
  t.true(untrusted.stderr.includes(`Login failed: ${problemKinds.certificate_untrusted.messages.en}`), untrusted.stderr);
  t.regex(untrusted.stderr, /\(certificate_untrusted, request [0-9a-f-]{36}\)/);

  const nobody = await loginCli(['--port', String(await freePort())], token, PIN);
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /リーダーエージェント（http:\/\/127\.0\.0\.1:\d+\/v1\/card-sessions）に接続できません[\s\S]*\(agent_unreachable\)/);
  t.is((await loginCli(['--port', port, '--purpose', 'payment'], token, PIN)).code, 2);
  t.is((await loginCli(['--port', port, '--bogus'], token, PIN)).code, 2);
});
