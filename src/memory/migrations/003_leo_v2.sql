-- v3: the leo layer's version 2 (docs/leo.md §10 says what each change is for).
-- Nothing is dropped. Where a v1 figure cannot be recomputed under the v2 rules it is set
-- aside (kept, no longer read) or marked as v1, as listed here.

-- §1 Spoken counts: a word's occurrences in user messages and replies, rings left out.
-- Recomputed from the stored messages through the full-text index's own vocabulary
-- (its tokenizer is the field's for plain words). Words it splits or folds (inner ' or -,
-- accented Latin letters) keep their v1 count, rings included: an upper bound.
ALTER TABLE vocab ADD COLUMN count_spoken INTEGER NOT NULL DEFAULT 0;
CREATE VIRTUAL TABLE temp.spoken_terms USING fts5vocab(main, messages_fts, row);
UPDATE vocab SET count_spoken = CASE
  WHEN word GLOB '*[^a-z0-9а-яё]*' THEN count
  ELSE min(count, coalesce((SELECT cnt FROM temp.spoken_terms WHERE term = vocab.word), 0))
END;
DROP TABLE temp.spoken_terms;

-- §3 Trauma: every turn's score, for the level (the mean of the last 10 turns).
-- v1 scored the reply's words, novelty and entropy, which put nearly every turn above the
-- event threshold: the v1 level and word weights are set aside (kept, not read), so a device
-- starts v2 unwounded. The event log stays as it is.
CREATE TABLE trauma_turns (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id),
  ts INTEGER NOT NULL,
  score REAL NOT NULL
);
CREATE TABLE trauma_words_v1 (
  word TEXT PRIMARY KEY,
  weight REAL NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO trauma_words_v1 SELECT word, weight, updated_at FROM trauma_words;
DELETE FROM trauma_words;
UPDATE leo_state SET key = 'trauma.level.v1' WHERE key = 'trauma.level';

-- §7 The per-turn record. leo_version tells v1 rows from v2 ones: a v1 entropy was
-- normalised over the sampling nucleus, so the kernel's entropy band reads v2 rows only.
-- v1 rows have no non-word / stock-phrase shares, band or highlights (NULL) and no count of
-- empty rings (v1 did not keep them: 0).
ALTER TABLE metrics ADD COLUMN leo_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE metrics ADD COLUMN non_word_share REAL;
ALTER TABLE metrics ADD COLUMN stock_phrase_share REAL;
ALTER TABLE metrics ADD COLUMN entropy_band TEXT;          -- JSON [low, high]
ALTER TABLE metrics ADD COLUMN empty_rings INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metrics ADD COLUMN highlights TEXT;            -- JSON [[start, end, kind]] into the reply's text
CREATE INDEX metrics_by_kernel ON metrics(model_sha256, message_id);
