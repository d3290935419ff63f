// The guard refuses, before the card sees it, every command this platform must not send.
import test from 'ava';
import { guardedTransmit } from '../src/jpki/guard.ts';
import { CardError } from '../src/jpki/errors.ts';

const OK = Buffer.from('9000', 'hex');
const hex = (text: string) => Buffer.from(text.replace(/ /g, ''), 'hex');

const SELECT_JPKI = '00A4040C0AD392F000260100000001';
// The applications that hold the My Number: the platform must never select them.
const OFF_LIMITS = ['D3921000310001010408', 'D3921000310001010402', 'D3921000310001010100'];

function recordingCard(answer = OK) {
  const sent: string[] = [];
  const transmit = guardedTransmit(async (command) => { sent.push(command.toString('hex').toUpperCase()); return answer; });
  return { sent, transmit };
}

async function refused(t: import('ava').ExecutionContext, transmit: (c: Buffer) => Promise<Buffer>, command: string) {
  const error = await t.throwsAsync(transmit(hex(command)), { instanceOf: CardError });
  t.is(error?.code, 'apdu_forbidden');
}

for (const aid of OFF_LIMITS) {
  test(`never selects the My Number application ${aid}`, async (t) => {
    const { sent, transmit } = recordingCard();
    await refused(t, transmit, `00A4040C0A${aid}`);
    await refused(t, transmit, `00A40400 0A${aid}`);
    t.deepEqual(sent, []);
  });
}

test('selects only the JPKI application, and only by its exact name', async (t) => {
  const { sent, transmit } = recordingCard();
  await refused(t, transmit, '00A4040C09D392F0002601000000');
  await refused(t, transmit, `${SELECT_JPKI}00`);
  await refused(t, transmit, '00A4000C023F00');
  await transmit(hex(SELECT_JPKI));
  t.deepEqual(sent, [SELECT_JPKI]);
});

test('inside JPKI: only the user-authentication files, never the signing certificate, key or PIN', async (t) => {
  const { sent, transmit } = recordingCard();
  await refused(t, transmit, '00A4020C02000A'); // before the application is selected
  await transmit(hex(SELECT_JPKI));
  for (const fid of ['0001', '0002', '001A', '001B', '3F00']) await refused(t, transmit, `00A4020C02${fid}`);
  for (const fid of ['000A', '000B', '0017', '0018']) await transmit(hex(`00A4020C02${fid}`));
  t.is(sent.length, 5);
});

test('READ BINARY only on a certificate; VERIFY only on the auth PIN; SIGN only with the auth key', async (t) => {
  const { transmit } = recordingCard();
  await transmit(hex(SELECT_JPKI));
  await refused(t, transmit, '00B0000004'); // nothing selected yet
  await transmit(hex('00A4020C020018'));
  await refused(t, transmit, '00B0000004');
  await transmit(hex('0020008004 31323334'));
  await refused(t, transmit, '802A00800300000000');
  await transmit(hex('00A4020C020017'));
  await refused(t, transmit, '0020008004 31323334');
  await transmit(hex('802A0080 03 010203 00'));
  await transmit(hex('00A4020C02000A'));
  await transmit(hex('00B0000004'));
  await refused(t, transmit, '00B000000400'); // a malformed READ BINARY
  await refused(t, transmit, '00D6000001 00'); // UPDATE BINARY: never
  t.pass();
});

test('a SELECT the card refused leaves nothing selected', async (t) => {
  const { transmit } = recordingCard(hex('6A82'));
  await transmit(hex(SELECT_JPKI));
  await refused(t, transmit, '00A4020C02000A');
});
