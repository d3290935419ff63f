// One way to run what a person asked for against the backend: the button it belongs to shows
// busy (disabled, aria-busy) while it runs, a refusal becomes the problem its ProblemMessage
// shows, and focus goes where the screen says once the page has caught up with the result.
import { tick } from 'svelte';
import { ApiError } from './api.ts';

export interface RunOptions<Step extends string> {
  /** Which of the buttons sharing this action is the one running (the register's three). */
  step?: Step;
  /** The element to focus after success, read once the page shows the result. */
  focusAfter?: () => HTMLElement | undefined;
  /** What else a refusal changes on the screen: a field emptied, focus moved, a stale view dropped. */
  onProblem?: (problem: ApiError) => void;
}

export interface ActionOptions {
  /**
   * Keep the last problem shown while the action runs again, until it succeeds: a list
   * reloading keeps saying why it could not load instead of blinking the message away.
   */
  keepProblem?: boolean;
}

export class Action<Step extends string = never> {
  busy = $state(false);
  step = $state<Step | null>(null);
  problem = $state<ApiError | null>(null);
  readonly #keepProblem: boolean;

  constructor(options: ActionOptions = {}) {
    this.#keepProblem = options.keepProblem ?? false;
  }

  /**
   * Runs `work`. Only a refusal from the backend (an ApiError) is the screen's to show;
   * anything else is a bug and goes on up.
   */
  async run(work: () => Promise<unknown>, options: RunOptions<Step> = {}): Promise<void> {
    if (!this.#keepProblem) this.problem = null;
    this.busy = true;
    this.step = options.step ?? null;
    try {
      await work();
      this.problem = null;
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      this.problem = caught;
      options.onProblem?.(caught);
      return;
    } finally {
      this.busy = false;
      this.step = null;
    }
    // After busy is over, so a field the action disabled (the register's PIN) can take focus.
    if (options.focusAfter) {
      await tick();
      options.focusAfter()?.focus();
    }
  }
}
