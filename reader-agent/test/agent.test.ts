// The reader agent through the real stack: agent → pcsclite → pcscd → vpcd → simulated card.
import test from 'ava';
import http from 'node:http';
import { createPublicKey, createVerify, X509Certificate } from 'node:crypto';
import { READER_NAME, type PcscStack } from './helpers/pcsc-stack.ts';
import { agentWithCard, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';

const PIN = '7391';
// Digits and hex unlikely to occur by chance in a log, so a search for them means something.
const WRONG_PIN = '8642';

function setup(t: { teardown: (fn: () => unknown) => void }, simulatorArgs: string[] = []) {
  return agentWithCard((fn) => t.teardown(fn), PIN, simulatorArgs);
}

function selects(stack: PcscStack): string[] {
  return stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu' && r.command.startsWith('00A4')).map((r) => r.command);
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

const ALLOWED_SELECTS = new Set(['00A4040C0AD392F000260100000001', '00A4020C02000A', '00A4020C02000B', '00A4020C020017', '00A4020C020018']);

test('reads the identity: the user-authentication certificate and the PIN tries, selecting nothing else', async (t) => {
  const { stack, agent } = await setup(t);
  const status = await agent.call('GET', '/v1/status');
  t.true(status.body.available);
  t.deepEqual(status.body.readers.find((r: { name: string }) => r.name === READER_NAME), { name: READER_NAME, cardPresent: true, atr: '3BE000FF8131FE4514' });
  const { status: code, body } = await agent.call('POST', '/v1/identity', {});
  t.is(code, 200);
  t.is(body.pinTriesLeft, 3);
  t.deepEqual(Buffer.from(body.certificate, 'base64'), new X509Certificate(stack.certificatePem).raw);
  t.true(selects(stack).every((command) => ALLOWED_SELECTS.has(command)), selects(stack).join(' '));
  t.false(stack.apduLog().some((r) => r.type === 'apdu' && r.offLimits));
});

test('signs a challenge after the PIN; the signature verifies with the card certificate', async (t) => {
  const { stack, agent } = await setup(t);
  const challenge = Buffer.from('mykey-challenge:2026-11-22:abcdef');
  const { status, body } = await agent.call('POST', '/v1/signatures', { pin: PIN, challenge: challenge.toString('base64') });
  t.is(status, 200, JSON.stringify(body));
  t.is(body.algorithm, 'RSASSA-PKCS1-v1_5-SHA256');
  const key = createPublicKey(new X509Certificate(Buffer.from(body.certificate, 'base64')).publicKey.export({ format: 'pem', type: 'spki' }));
  t.true(createVerify('sha256').update(challenge).verify(key, Buffer.from(body.signature, 'base64')));
  t.true(selects(stack).every((command) => ALLOWED_SELECTS.has(command)));
});

test('no PIN in any log: not the agent output, not the APDU log', async (t) => {
  const { stack, agent } = await setup(t);
  await agent.call('POST', '/v1/signatures', { pin: PIN, challenge: 'AA==' });
  await agent.call('POST', '/v1/signatures', { pin: WRONG_PIN, challenge: 'AA==' });
  t.deepEqual(pinLeaks(`${agent.output()}\n${stack.sentToCard()}`, PIN, WRONG_PIN), []);
});

test('a wrong PIN says how many tries are left, warns before the last, then the card is blocked', async (t) => {
  const { agent } = await setup(t);
  const attempt = () => agent.call('POST', '/v1/signatures', { pin: WRONG_PIN, challenge: 'AA==' });
  const first = await attempt();
  t.is(first.status, 422);
  t.like(first.body, { code: 'pin_wrong', triesLeft: 2 });
  t.regex(first.body.messages.ja, /残り2回/);
  const second = await attempt();
  t.like(second.body, { code: 'pin_last_try', triesLeft: 1 });
  t.is((await agent.call('POST', '/v1/identity', {})).body.pinTriesLeft, 1);
  const third = await attempt();
  t.is(third.status, 423);
  t.like(third.body, { code: 'pin_blocked', triesLeft: 0 });
  t.regex(third.body.messages.ja, /窓口/);
  const correct = await agent.call('POST', '/v1/signatures', { pin: PIN, challenge: 'AA==' });
  t.is(correct.body.code, 'pin_blocked', 'even the right PIN cannot unblock it');
});

test('a correct PIN restores the tries', async (t) => {
  const { agent } = await setup(t);
  await agent.call('POST', '/v1/signatures', { pin: WRONG_PIN, challenge: 'AA==' });
  t.is((await agent.call('POST', '/v1/signatures', { pin: PIN, challenge: 'AA==' })).status, 200);
  t.is((await agent.call('POST', '/v1/identity', {})).body.pinTriesLeft, 3);
});

test('the card state follows insertion and removal, and an operation without a card says so', async (t) => {
  const { stack, agent } = await setup(t);
  await stack.removeCard();
  await waitUntil(async () => !(await agent.call('GET', '/v1/status')).body.readers.find((r: { name: string }) => r.name === READER_NAME).cardPresent, 'removal to show');
  const missing = await agent.call('POST', '/v1/identity', {});
  t.is(missing.status, 409);
  t.like(missing.body, { code: 'no_card', messages: { ja: 'カードをリーダーに置いてください。' } });
  await stack.insertCard();
  await waitUntil(async () => (await agent.call('GET', '/v1/status')).body.readers.find((r: { name: string }) => r.name === READER_NAME).cardPresent, 'insertion to show');
  t.is((await agent.call('POST', '/v1/identity', {})).status, 200);
});

test('a card removed in the middle of an operation gives a clear error', async (t) => {
  const { stack, agent } = await setup(t, ['--latency-ms', '40']);
  let ended: unknown;
  const reading = agent.call('POST', '/v1/identity', {}).then((answer) => (ended = answer));
  await waitUntil(async () => {
    // A read that failed before its third APDU would otherwise look like a hang.
    if (ended) throw new Error(`the read ended before the removal: ${JSON.stringify(ended)}\n${agent.output()}`);
    return stack.apduLog().filter((r) => r.type === 'apdu').length >= 3;
  }, 'the read to be under way');
  await stack.removeCard();
  const { status, body } = await reading;
  t.is(status, 409);
  t.is(body.code, 'card_removed');
  t.regex(body.messages.en, /removed during the operation/);
});

test('the local API refuses other origins, other hosts, missing or wrong pairing tokens, and bad PINs', async (t) => {
  const { agent } = await setup(t);
  t.is((await agent.call('GET', '/v1/status', undefined, { Origin: 'https://evil.example' })).status, 403);
  t.is((await agent.call('GET', '/v1/status', undefined, { Authorization: 'Bearer wrong' })).status, 401);
  t.is((await agent.call('GET', '/v1/status', undefined, { Authorization: '' })).status, 401);
  t.is(await statusWithHost(agent, 'evil.example'), 403, 'a DNS-rebinding page sends its own Host');
  t.is(await statusWithHost(agent, new URL(agent.base).host), 200);
  const preflight = await fetch(`${agent.base}/v1/signatures`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:3000', 'Access-Control-Request-Method': 'POST' } });
  t.is(preflight.status, 204);
  t.is(preflight.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000');
  for (const pin of ['123', '12345', 'abcd', '１２３４']) {
    const { status, body } = await agent.call('POST', '/v1/signatures', { pin, challenge: 'AA==' });
    t.is(status, 400);
    t.is(body.code, 'pin_format');
  }
  const tooLong = await agent.call('POST', '/v1/signatures', { pin: PIN, challenge: Buffer.alloc(2000).toString('base64') });
  t.is(tooLong.status, 400);
  t.is((await agent.call('POST', '/v1/identity', { reader: 'Other Reader 00 00' })).body.code, 'no_reader');
});
