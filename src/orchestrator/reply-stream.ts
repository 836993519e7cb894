/**
 * reply-stream.ts — streams a reply as it will be stored.
 *
 * Leo trims a reply once it is whole (role labels, an echoed opening,
 * repeated sentences, a ragged end), so the raw tokens differ from what is
 * stored: a leading space, a cut ending, a label. Instead of raw tokens, the
 * stream sends the first candidate's whole sentences, trimmed, once the text
 * up to a sentence end trims to a continuation of what was already sent;
 * trimming more text never changes an earlier sentence, except an echoed
 * opening that grows (then the stream waits for the end). When the turn is
 * done, the rest of the stored reply follows, so what was sent equals what was
 * stored, unless leo chose another candidate over one already under way.
 */

/** A sentence end followed by whitespace: the text before it is a whole sentence. */
const SENTENCE_BOUNDARY = /[.!?…]["'»”)\]]*\s/gu;

export class ReplyStream {
  private sent = "";
  private checkedUpTo = 0;
  /** false once a draft stopped continuing what was sent */
  private following = true;

  constructor(
    private readonly trim: (raw: string) => string,
    private readonly emit?: (delta: string) => void,
  ) {}

  /** The first candidate's raw text so far (called after every token). */
  draft(raw: string): void {
    if (!this.emit || !this.following) return;
    let end = 0;
    for (const m of raw.matchAll(SENTENCE_BOUNDARY)) end = m.index + m[0].length;
    if (end <= this.checkedUpTo) return;
    this.checkedUpTo = end;
    const text = this.trim(raw.slice(0, end));
    if (!text.startsWith(this.sent)) this.following = false;
    else this.send(text.slice(this.sent.length));
  }

  /** The stored reply: sends the rest of it when it continues what was sent, and returns all that was sent. */
  finish(stored: string): string {
    if (!this.emit) return stored;
    if (stored.startsWith(this.sent)) this.send(stored.slice(this.sent.length));
    return this.sent;
  }

  /** A stopped reply keeps what was sent (`partial`, when nothing streams). */
  stoppedAt(partial: string): string {
    return this.emit ? this.sent : partial;
  }

  private send(delta: string): void {
    if (delta === "") return;
    this.sent += delta;
    this.emit!(delta);
  }
}
