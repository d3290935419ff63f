// The card's PIN as a resident types it into a PinField: four digits, said so once they tried,
// and taken out of the field before it goes to the reader agent (the only place it goes).
import { t } from './i18n.svelte.ts';

const PIN = /^\d{4}$/;

export class PinEntry {
  value = $state('');
  #tried = $state(false);

  /** What is wrong with the PIN typed, once the resident tried to send it. */
  readonly notice = $derived(this.#tried && !PIN.test(this.value) ? t('registerPinInvalid') : null);

  /** The PIN typed, the field emptied; null (and the notice shown) when it is not four digits. */
  take(): string | null {
    this.#tried = true;
    if (!PIN.test(this.value)) return null;
    const entered = this.value;
    this.value = '';
    this.#tried = false;
    return entered;
  }
}
