// The loops of the alert dispatcher and the policy engine sleep between rounds and are woken early when there
// is work (a NOTIFY, a config change, a stop).

/** A sleep that can be cut short; a wake with nobody asleep ends the next sleep at once. */
export class Waker {
  private wakeUp: (() => void) | null = null;
  private pending = false;

  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.wakeUp = done;
    });
  }

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.pending = true;
  }
}
