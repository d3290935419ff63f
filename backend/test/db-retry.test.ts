// retryTransient: what runs again, how often, and what does not.
import test from 'ava';
import { ConcurrentChange, retryTransient } from '../src/db.ts';

const deadlock = () => Object.assign(new Error('Deadlock found when trying to get lock'), { code: 'ER_LOCK_DEADLOCK' });

/** Work that fails `failures` times with `error`, then answers; counts its calls. */
function failing(failures: number, error: () => Error) {
  const work = async () => {
    work.calls += 1;
    if (work.calls <= failures) throw error();
    return 'done';
  };
  work.calls = 0;
  return work;
}

test('a deadlock, a lost certification or a concurrent change is run again, up to six times in all', async (t) => {
  for (const error of [deadlock, () => new ConcurrentChange('changed meanwhile')]) {
    const five = failing(5, error);
    t.is(await retryTransient(five), 'done');
    t.is(five.calls, 6);
    const six = failing(6, error);
    await t.throwsAsync(retryTransient(six));
    t.is(six.calls, 6, 'the sixth failure is the answer');
  }
});

test('any other failure is the answer at once', async (t) => {
  const work = failing(1, () => Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY' }));
  await t.throwsAsync(retryTransient(work), { message: 'Duplicate entry' });
  t.is(work.calls, 1);
});
