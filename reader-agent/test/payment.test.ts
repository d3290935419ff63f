// A resident pays at a shop's register, end to end: simulated card → pcscd → reader agent → the
// real backend. The shop's clerk opens a payment intent, the agent (a device of the shop) gets a
// challenge bound to it, the card signs after the PIN, the backend answers with the receipt.
// One card for the file (its PIN tries too), so the tests run one after another.
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileFixture, type Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff, type Staff } from '@mykey/backend/test/helpers/identity.ts';
import { canonicalChallenge, PAYMENT_TERMS, type Challenge, type PaymentTerms } from '@mykey/contracts/challenge-text.ts';
import { creditConversions, inLedgerTransaction, residentPoints } from '@mykey/backend/ledger/ledger.ts';
import { AgentError } from '../src/agent/errors.ts';
import { runAgentCli, type RunningAgent } from './helpers/agent.ts';
import { agentEnrolledAs, backendWithCard, enrolledAgent } from './helpers/counter.ts';
import type { PcscStack } from './helpers/pcsc-stack.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

/** Commands the card received; the log's other records (power, reset) come from pcscd on its own. */
const apdusSent = (stack: Pick<PcscStack, 'apduLog'>) => stack.apduLog().filter((r) => r.type === 'apdu').length;

const PIN = '6183';
const POINTS = 5_000;

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const shop = await signInStaff(base, 'demo-shop');
  const { agent, deviceId } = await enrolledAgent(cleanup, stack, base, shop, 'レジ1');
  // The card's first login gives it its MyKey ID; a partner conversion gives it points.
  const login = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(JSON.stringify(login.body));
  const mykeyId: string = login.body.mykeyId;
  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id', 'municipality_code');
  const partner = await db('partners').where({ slug: 'demo-card' }).first('id');
  await inLedgerTransaction(db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: bakery.municipality_code, mykeyId, partnerId: Number(partner.id), points: POINTS }]));
  const spendable = async () => (await residentPoints(db, bakery.municipality_code, mykeyId)).spendable;
  return { db, base, shop, stack, agent, deviceId, mykeyId, spendable, merchantId: Number(bakery.id) };
});

async function openIntent(shop: Staff, amount: number): Promise<string> {
  const reply = await shop.post('/api/v1/merchant/payment-intents', { amount });
  if (reply.status !== 201) throw new Error(JSON.stringify(reply.body));
  return reply.body.intentId;
}

const pay = (agent: RunningAgent, intentId: string, pin = PIN) => agent.call('POST', '/v1/card-sessions', { pin, purpose: 'payment', paymentIntentId: intentId });

test.serial('the card pays the register\'s intent through the agent: the receipt, the intent paid, the amount logged, no PIN anywhere', async (t) => {
  const { shop, agent, stack, mykeyId, spendable, merchantId } = await fixture();
  const before = await spendable();
  const intentId = await openIntent(shop, 700);
  const paid = await pay(agent, intentId);
  t.is(paid.status, 200, JSON.stringify(paid.body));
  t.like(paid.body, { purpose: 'payment', intentId, amount: 700, mykeyId, balanceAfter: before - 700, merchant: { id: merchantId, nameJa: 'みらいベーカリー' }, revocationChecked: true });
  t.like((await shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body, { status: 'paid', receipt: { receiptNo: paid.body.receiptNo } });
  t.is(await spendable(), before - 700);
  const logged = agent.output().split('\n').filter((line) => line.includes('"payment to sign"')).map((line) => JSON.parse(line));
  t.like(logged.at(-1), { intentId, amount: 700, merchantId });
  t.deepEqual(pinLeaks(`${agent.output()}\n${stack.sentToCard()}`, PIN), [], 'the PIN in a log');
});

test.serial('not enough points: insufficient_points with the available points, in words with the numbers; the intent stays open', async (t) => {
  const { shop, agent, spendable } = await fixture();
  const available = await spendable();
  const intentId = await openIntent(shop, 1_000_000);
  const refused = await pay(agent, intentId);
  t.is(refused.status, 502);
  t.like(refused.body, { code: 'insufficient_points', availablePoints: available, requestedPoints: 1_000_000, backendStatus: 409 });
  t.true(refused.body.messages.ja.includes(`使えるポイントは ${available.toLocaleString('ja-JP')} ポイント`), refused.body.messages.ja);
  t.true(refused.body.messages.en.includes(`${available.toLocaleString('ja-JP')} points can be used`), refused.body.messages.en);
  t.like((await shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body, { status: 'open' });
  t.is(await spendable(), available);
});

test.serial('an intent already paid or cancelled: payment_intent_not_open, saying which, and the card signs nothing', async (t) => {
  const { shop, agent, stack, spendable } = await fixture();
  const intentId = await openIntent(shop, 100);
  const paid = await pay(agent, intentId);
  t.is(paid.status, 200, JSON.stringify(paid.body));
  const apdusBefore = apdusSent(stack);
  const again = await pay(agent, intentId);
  t.like(again, { status: 502, body: { code: 'payment_intent_not_open', intentStatus: 'paid', receiptNo: paid.body.receiptNo } });
  t.true(again.body.messages.ja.includes(`レシート番号 ${paid.body.receiptNo}`), again.body.messages.ja);
  t.is(apdusSent(stack), apdusBefore, 'the card was not asked');

  const cancelled = await openIntent(shop, 100);
  t.is((await shop.post(`/api/v1/merchant/payment-intents/${cancelled}/cancellation`, {})).status, 200);
  const balance = await spendable();
  const refused = await pay(agent, cancelled);
  t.like(refused.body, { code: 'payment_intent_not_open', intentStatus: 'cancelled' });
  t.regex(refused.body.messages.ja, /レジで取り消されました/);
  t.is(await spendable(), balance);
});

test.serial('the local API wants the intent with a payment, and only then', async (t) => {
  const { agent } = await fixture();
  t.like(await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'payment' }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login', paymentIntentId: `pi_${'A'.repeat(22)}` }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'payment', paymentIntentId: 'pi_x' }), { status: 400, body: { code: 'request_invalid' } });
});

test.serial('a backend that answers with a challenge for another intent, or without payment terms, gets nothing signed', async (t) => {
  const { stack } = await fixture();
  const deviceId = 7;
  const asked = `pi_${randomBytes(16).toString('base64url')}`;
  const challenge = (payment: PaymentTerms) => {
    const c: Challenge = { id: randomBytes(32).toString('base64url'), deviceId, purpose: 'payment', expiresAt: new Date(Date.now() + 60_000) };
    return { challengeId: c.id, purpose: c.purpose, expiresAt: c.expiresAt.toISOString(), challenge: canonicalChallenge(c, PAYMENT_TERMS.lines(payment)).toString('base64'), payment };
  };
  // A stand-in for a malicious or mistaken server: challenges from `next`, and any card session taken.
  let next: unknown;
  const server = http.createServer(async (request, response) => {
    request.resume();
    const isChallenge = request.url === '/api/v1/auth/challenges';
    response.writeHead(201, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(isChallenge ? next : { purpose: 'payment', intentId: asked }));
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const agent = await agentEnrolledAs(t.teardown as Cleanup, stack, { backendUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, deviceId, token: `mkd_${'A'.repeat(43)}` });
  const other = challenge({ intentId: `pi_${randomBytes(16).toString('base64url')}`, amount: 100, merchantId: 1 });
  const noTerms = { ...challenge({ intentId: asked, amount: 100, merchantId: 1 }), payment: undefined };
  for (const [what, answer] of Object.entries({ 'another intent': other, 'no payment terms': noTerms })) {
    next = answer;
    const apdusBefore = apdusSent(stack);
    const reply = await pay(agent, asked);
    t.deepEqual(reply, { status: 502, body: { code: 'challenge_not_canonical', messages: new AgentError('challenge_not_canonical').messages } }, what);
    t.is(apdusSent(stack), apdusBefore, `${what}: not one APDU went to the card`);
  }
  // The same stand-in with the asked-for intent: the card signs, so the refusals were the check's doing.
  next = challenge({ intentId: asked, amount: 100, merchantId: 1 });
  t.like(await pay(agent, asked), { status: 200, body: { intentId: asked } });
});

const loginCli = (agent: RunningAgent, args: string[], stdin: string) => runAgentCli(['login', '--port', new URL(agent.base).port, ...args], agent.token, stdin);

test.serial('the CLI: `login --purpose payment --terms ID` prints the receipt; short of points it says how many can be used', async (t) => {
  const { shop, agent, spendable } = await fixture();
  const intentId = await openIntent(shop, 50);
  const run = await loginCli(agent, ['--purpose', 'payment', '--terms', intentId], `${PIN}\n`);
  t.is(run.code, 0, run.stderr);
  t.like(JSON.parse(run.stdout), { purpose: 'payment', intentId, amount: 50, balanceAfter: await spendable() });

  const short = await loginCli(agent, ['--purpose', 'payment', '--terms', await openIntent(shop, 9_000_000)], `${PIN}\n`);
  t.is(short.code, 1);
  t.regex(short.stderr, /支払いできませんでした: ポイントが足りません。お支払い 9,000,000 ポイントに対し、使えるポイントは [\d,]+ ポイントです/);
  t.regex(short.stderr, /Payment failed: Not enough points: the payment is 9,000,000 points, and [\d,]+ points can be used/);
  t.regex(short.stderr, /\(insufficient_points, request [0-9a-f-]{36}\)/);
  for (const output of [run, short]) t.deepEqual(pinLeaks(`${output.stdout}${output.stderr}`, PIN), [], 'a PIN printed');

  t.is((await loginCli(agent, ['--purpose', 'payment'], PIN)).code, 2);
  t.is((await loginCli(agent, ['--terms', intentId], PIN)).code, 2);
  t.is((await loginCli(agent, ['--purpose', 'payment', '--terms', 'pi_short'], PIN)).code, 2);
});
