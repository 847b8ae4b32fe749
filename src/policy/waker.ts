// The engine's sleep between evaluations, cut short by wake() (a policy change, a kill switch, a stop).

export class Waker {
  private wakeUp: (() => void) | null = null;
  private pending = false;
  wake(): void {
    this.pending = true;
    this.wakeUp?.();
  }
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wakeUp = null;
        self.pending = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
