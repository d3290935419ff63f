// The reader agent through the real stack: agent → pcsclite → pcscd → vpcd → simulated card, and
// the real backend it is enrolled with. Each test has a counter PC of its own (stack, card, agent);
// the card's PIN tries are read from the simulator itself, not through the agent.
import test from 'ava';
import http from 'node:http';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { parseMykeyId } from '@mykey/backend/mykey/id.ts';
import { AgentError } from '../src/agent/errors.ts';
import { CardError } from '../src/jpki/errors.ts';
import { OPENSC_PKCS11, READER_NAME, type PcscStack } from './helpers/pcsc-stack.ts';
import { presentCardAgain, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { counterPc, trustingBackend } from './helpers/counter.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';

const PIN = '7391';
// Digits and hex unlikely to occur by chance in a log, so a search for them means something.
const WRONG_PIN = '8642';
// VERIFY on the PIN file: without data it only asks the tries left; with data it presents a PIN.
const TRIES_QUERY = '00200080';
const PRESENT_PIN = /^0020008004/;

const backend = fileFixture(test, async (cleanup) => {
  const server = await trustingBackend(cleanup);
  return { ...server, staff: await signInStaff(server.base, 'demo-city') };
});

async function setup(t: { teardown: (fn: () => unknown) => void }, simulatorArgs: string[] = []) {
  return counterPc((fn) => t.teardown(fn), await backend(), PIN, simulatorArgs);
}

function login(agent: RunningAgent, pin = PIN, extra: Record<string, unknown> = {}) {
  return agent.call('POST', '/v1/card-sessions', { pin, purpose: 'login', ...extra });
}

function apdus(stack: PcscStack): ApduRecord[] {
  return stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu');
}

/** How many times a PIN was presented to the card (the simulator's log writes it as ****). */
function pinsPresented(stack: PcscStack): number {
  return apdus(stack).filter((r) => PRESENT_PIN.test(r.command)).length;
}

/** fetch will not send a Host of our choosing; node:http will. */
function statusWithHost(agent: RunningAgent, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${agent.base}/v1/status`, { headers: { Host: host, Authorization: `Bearer ${agent.token}` } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

// A login selects the JPKI application, the certificate 000A, the PIN 0018 and the key 0017.
const ALLOWED_SELECTS = new Set(['00A4040C0AD392F000260100000001', '00A4020C02000A', '00A4020C020017', '00A4020C020018']);

test('the status shows the reader and card; a card login selects nothing but the JPKI application and its login files', async (t) => {
  const { stack, agent, deviceId } = await setup(t);
  const status = await agent.call('GET', '/v1/status');
  t.true(status.body.available);
  t.true(status.body.enrolled);
  t.is(status.body.deviceId, deviceId, 'the console finds the service this counter serves by it');
  t.deepEqual(status.body.readers.find((r: { name: string }) => r.name === READER_NAME), { name: READER_NAME, cardPresent: true, atr: '3BE000FF8131FE4514' });
  const { status: code, body } = await login(agent);
  t.is(code, 200, JSON.stringify(body));
  t.like(parseMykeyId(body.mykeyId), { ok: true });
  const selects = apdus(stack).filter((r) => r.command.startsWith('00A4')).map((r) => r.command);
  t.true(selects.length > 0 && selects.every((command) => ALLOWED_SELECTS.has(command)), selects.join(' '));
  t.false(stack.apduLog().some((r) => r.type === 'apdu' && r.offLimits));
});

test('no PIN in any log: not the agent output, not the APDU log', async (t) => {
  const { stack, agent } = await setup(t);
  t.is((await login(agent)).status, 200);
  t.is((await login(agent, WRONG_PIN)).body.code, 'pin_wrong');
  t.deepEqual(pinLeaks(`${agent.output()}\n${stack.sentToCard()}`, PIN, WRONG_PIN), []);
});

test('a wrong PIN: the tries left, and no further PIN until the card is placed again; one try left: no PIN at all', async (t) => {
  const { stack, agent } = await setup(t);
  const first = await login(agent, WRONG_PIN);
  t.is(first.status, 422);
  t.deepEqual(first.body, { code: 'pin_wrong', messages: new CardError('pin_wrong', { triesLeft: 2 }).messages, triesLeft: 2 });
  t.regex(first.body.messages.ja, /残り2回.*外して、置き直して/);
  t.is(await stack.pinTriesLeft(), 2);

  // Even the right PIN waits for the card to be taken off: nothing reaches the card.
  const apdusBefore = apdus(stack).length;
  const again = await login(agent);
  t.is(again.status, 409);
  t.deepEqual(again.body, { code: 'pin_needs_card_again', messages: new AgentError('pin_needs_card_again').messages });
  t.is(apdus(stack).length, apdusBefore, 'not one APDU went to the card');
  t.is(await stack.pinTriesLeft(), 2);

  await presentCardAgain(stack, agent);
  const second = await login(agent, WRONG_PIN);
  t.is(second.status, 422);
  t.like(second.body, { code: 'pin_last_try', triesLeft: 1 });
  t.regex(second.body.messages.ja, /窓口/);
  t.is(await stack.pinTriesLeft(), 1);

  // One try left: the agent asks the tries (costs none) and keeps the PIN, right or wrong, from the card.
  await presentCardAgain(stack, agent);
  const presented = pinsPresented(stack);
  for (const pin of [PIN, WRONG_PIN]) {
    const kept = await login(agent, pin);
    t.is(kept.status, 423);
    t.deepEqual(kept.body, { code: 'pin_one_try_left', messages: new AgentError('pin_one_try_left').messages });
  }
  t.is(pinsPresented(stack), presented);
  t.true(apdus(stack).some((r) => r.command === TRIES_QUERY));
  t.is(await stack.pinTriesLeft(), 1, 'the card never got locked through the agent');
});

test('a correct PIN on the card placed again restores the tries', async (t) => {
  const { stack, agent } = await setup(t);
  t.is((await login(agent, WRONG_PIN)).body.code, 'pin_wrong');
  t.is(await stack.pinTriesLeft(), 2);
  await presentCardAgain(stack, agent);
  const right = await login(agent);
  t.is(right.status, 200, JSON.stringify(right.body));
  t.is(await stack.pinTriesLeft(), 3);
  t.is((await login(agent)).status, 200, 'a right PIN leaves no wait for the next login');
});

test('a card locked elsewhere (OpenSC with wrong PINs): pin_blocked, and the agent never presents a PIN to it', async (t) => {
  const { stack, agent } = await setup(t);
  for (let i = 0; i < 3; i++) await stack.run('pkcs11-tool', ['--module', OPENSC_PKCS11, '--login', '--pin', WRONG_PIN, '--list-objects']);
  t.is(await stack.pinTriesLeft(), 0);
  const presented = pinsPresented(stack);
  const blocked = await login(agent);
  t.is(blocked.status, 423);
  t.deepEqual(blocked.body, { code: 'pin_blocked', messages: new CardError('pin_blocked').messages, triesLeft: 0 });
  t.regex(blocked.body.messages.ja, /窓口/);
  t.is(pinsPresented(stack), presented);
});

test('the card state follows insertion and removal, and a login without a card says so', async (t) => {
  const { stack, agent } = await setup(t);
  await stack.removeCard();
  await waitUntil(async () => !(await agent.call('GET', '/v1/status')).body.readers.find((r: { name: string }) => r.name === READER_NAME).cardPresent, 'removal to show');
  const missing = await login(agent);
  t.is(missing.status, 409);
  t.like(missing.body, { code: 'no_card', messages: { ja: 'カードをリーダーに置いてください。' } });
  await stack.insertCard();
  await waitUntil(async () => (await agent.call('GET', '/v1/status')).body.readers.find((r: { name: string }) => r.name === READER_NAME).cardPresent, 'insertion to show');
  t.is((await login(agent)).status, 200);
});

test('a card removed in the middle of a login gives a clear error', async (t) => {
  // The card answers three APDUs and then none until it is removed: the login is certainly under way.
  const { stack, agent } = await setup(t, ['--stall-after', '3']);
  let ended: unknown;
  const signing = login(agent).then((answer) => (ended = answer));
  await waitUntil(async () => {
    // A login that failed before its third APDU would otherwise look like a hang.
    if (ended) throw new Error(`the login ended before the removal: ${JSON.stringify(ended)}\n${agent.output()}`);
    return apdus(stack).length >= 3;
  }, 'the card operation to be under way');
  await stack.removeCard();
  const { status, body } = await signing;
  t.is(status, 409);
  t.is(body.code, 'card_removed');
  t.regex(body.messages.en, /removed during the operation/);
});

test('the local API refuses other origins, other hosts, missing or wrong pairing tokens, bad PINs, big bodies and unknown readers', async (t) => {
  const { stack, agent } = await setup(t);
  t.is((await agent.call('GET', '/v1/status', undefined, { Origin: 'https://evil.example' })).status, 403);
  t.is((await agent.call('GET', '/v1/status', undefined, { Authorization: 'Bearer wrong' })).status, 401);
  t.is((await agent.call('GET', '/v1/status', undefined, { Authorization: '' })).status, 401);
  t.is(await statusWithHost(agent, 'evil.example'), 403, 'a DNS-rebinding page sends its own Host');
  t.is(await statusWithHost(agent, new URL(agent.base).host), 200);
  const preflight = await fetch(`${agent.base}/v1/card-sessions`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:3000', 'Access-Control-Request-Method': 'POST' } });
  t.is(preflight.status, 204);
  t.is(preflight.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000');
  const apdusBefore = apdus(stack).length;
  for (const pin of ['123', '12345', 'abcd', '１２３４']) {
    const { status, body } = await login(agent, pin);
    t.is(status, 400);
    t.is(body.code, 'pin_format');
  }
  const tooBig = await login(agent, PIN, { reader: 'x'.repeat(9000) });
  t.like(tooBig, { status: 400, body: { code: 'request_invalid' } });
  t.regex(tooBig.body.messages.en, /body over 8192 bytes/);
  t.like(await login(agent, PIN, { reader: 'Other Reader 00 00' }), { status: 404, body: { code: 'no_reader' } });
  t.is(apdus(stack).length, apdusBefore, 'none of these reached the card');
});
