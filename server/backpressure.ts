/**
 * Backpressure on an outgoing WebSocket (the WS door to its client, the `openai` engine to its
 * upstream): after each send, if the socket's buffer is above the high-water mark, tell the other side
 * to pause; then poll (no per-message callback on the hot path) until it is below half and tell it to
 * resume.
 */
const DRAIN_POLL_MS = 10;

export class SendBackpressure {
  readonly #socket: { readonly bufferedAmount: number };
  readonly #highWater: number;
  readonly #onChange: (congested: boolean) => void;
  #congested = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(socket: { readonly bufferedAmount: number }, highWaterBytes: number, onChange: (congested: boolean) => void) {
    this.#socket = socket;
    this.#highWater = highWaterBytes;
    this.#onChange = onChange;
  }

  get congested(): boolean {
    return this.#congested;
  }

  /** Call after each send. */
  sent(): void {
    if (this.#congested || this.#closed || this.#socket.bufferedAmount <= this.#highWater) return;
    this.#congested = true;
    this.#onChange(true);
    this.#timer = setTimeout(this.#poll, DRAIN_POLL_MS);
  }

  readonly #poll = (): void => {
    this.#timer = null;
    if (this.#closed || !this.#congested) return;
    if (this.#socket.bufferedAmount < this.#highWater / 2) {
      this.#congested = false;
      this.#onChange(false);
      return;
    }
    this.#timer = setTimeout(this.#poll, DRAIN_POLL_MS);
  };

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
