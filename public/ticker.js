// A clock in a dedicated worker: posts a tick every N ms (N is the first message), unthrottled in hidden tabs.

const scope = /** @type {{ onmessage: ((e: MessageEvent<number>) => void) | null, postMessage(m: null): void }} */ (
  /** @type {unknown} */ (self)
);

/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;
scope.onmessage = (/** @type {MessageEvent<number>} */ e) => {
  clearInterval(timer);
  timer = setInterval(() => scope.postMessage(null), e.data);
};
