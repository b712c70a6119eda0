// The tab's icon with a count on it, for news that came while the tab was hidden. Drawn on a canvas and set as a
// data: URL (the page's CSP allows `img-src 'self' data:` for this); with no count, the plain icon again.

const SIZE = 64;

export class Favicon {
  #shown = 0;
  /** @type {Promise<HTMLImageElement | null> | null} */
  #base = null;

  /** @param {HTMLLinkElement} link the page's <link rel="icon"> */
  constructor(link) {
    this.link = link;
    this.plain = { href: link.href, type: link.type };
  }

  /** @param {number} count */
  show(count) {
    if (count === this.#shown) return;
    this.#shown = count;
    if (count === 0) {
      this.link.type = this.plain.type;
      this.link.href = this.plain.href;
      return;
    }
    void this.#draw(count);
  }

  /** @param {number} count */
  async #draw(count) {
    const base = await (this.#base ??= loadImage(this.plain.href));
    if (count !== this.#shown) return; // a newer count is being drawn
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIZE;
    const g = canvas.getContext("2d");
    if (!g) return;
    if (base) g.drawImage(base, 0, 0, SIZE, SIZE);
    const label = count > 9 ? "9+" : String(count);
    const r = SIZE * 0.3;
    const cx = SIZE - r;
    const cy = r;
    g.beginPath();
    g.arc(cx, cy, r, 0, 2 * Math.PI);
    g.fillStyle = "#d92d20";
    g.fill();
    g.lineWidth = SIZE * 0.05;
    g.strokeStyle = "#ffffff";
    g.stroke();
    g.fillStyle = "#ffffff";
    g.font = `bold ${label.length > 1 ? SIZE * 0.3 : SIZE * 0.4}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(label, cx, cy + SIZE * 0.02);
    this.link.type = "image/png";
    this.link.href = canvas.toDataURL("image/png");
  }
}

/** @param {string} href @returns {Promise<HTMLImageElement | null>} */
function loadImage(href) {
  // onload rather than decode(): a hidden tab, which is when the badge matters, may put decoding off.
  return new Promise((resolve) => {
    const img = new Image(SIZE, SIZE);
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null); // the badge alone still says there is news
    img.src = href;
  });
}
