// Desktop notifications (the Notification API) for a request or a message that comes while the tab is hidden.
// Off until the person turns them on with the switch in the page, which is when the browser asks for permission.

const KEY = "parley.notifications";

export class DesktopNotifications {
  /**
   * @param {HTMLButtonElement} button a switch (aria-pressed)
   * @param {HTMLElement} hint says why they cannot be turned on, when they cannot
   */
  constructor(button, hint) {
    this.button = button;
    this.hint = hint;
    this.supported = typeof Notification === "function";
    button.hidden = !this.supported;
    button.addEventListener("click", () => void this.#toggle());
    this.paint();
  }

  /** Turned on in the page, and allowed by the browser. */
  get on() {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }

  /** Shows the switch as it is (the browser's permission can change behind the page's back). */
  paint() {
    if (!this.supported) return;
    this.button.setAttribute("aria-pressed", String(this.on));
    const denied = Notification.permission === "denied";
    this.hint.hidden = !denied;
    this.hint.textContent = denied ? "Notifications are blocked for this site in your browser's settings." : "";
  }

  /**
   * @param {string} title
   * @param {string} body
   * @param {string} tag one notification per tag: a newer one replaces it
   * @param {() => void} [clicked]
   */
  show(title, body, tag, clicked) {
    if (!this.on) return;
    try {
      const n = new Notification(title, { body, tag, icon: "/favicon.svg" });
      n.addEventListener("click", () => {
        window.focus();
        n.close();
        clicked?.();
      });
    } catch {
      // Some browsers (Chrome on Android) only notify from a service worker; the inbox still has it.
    }
  }

  async #toggle() {
    if (this.on) {
      localStorage.removeItem(KEY);
    } else if (Notification.permission !== "denied") {
      const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      if (permission === "granted") localStorage.setItem(KEY, "on");
    }
    this.paint();
  }
}
