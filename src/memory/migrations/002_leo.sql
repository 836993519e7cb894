-- v2: the leo layer's state, full-text retrieval, and the per-turn record.

-- Full-text index over the whole history (external content: the text is stored once).
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
-- index what v1 already holds
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

-- The per-turn record (docs/leo.md §7); one row per Arianna message.
ALTER TABLE metrics ADD COLUMN arousal REAL;
ALTER TABLE metrics ADD COLUMN trauma_level REAL;
ALTER TABLE metrics ADD COLUMN wounded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metrics ADD COLUMN quality REAL;
ALTER TABLE metrics ADD COLUMN candidates INTEGER;
ALTER TABLE metrics ADD COLUMN candidate_scores TEXT;     -- JSON [{quality, temperature}]
ALTER TABLE metrics ADD COLUMN external_ratio REAL;
ALTER TABLE metrics ADD COLUMN active_themes TEXT;        -- JSON [theme id]
ALTER TABLE metrics ADD COLUMN bins_used TEXT;            -- JSON [bin id]
ALTER TABLE metrics ADD COLUMN temperature REAL;
ALTER TABLE metrics ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE metrics ADD COLUMN reply_tokens INTEGER;
ALTER TABLE metrics ADD COLUMN ttft_ms REAL;
ALTER TABLE metrics ADD COLUMN tokens_per_second REAL;
ALTER TABLE metrics ADD COLUMN stop_reason TEXT;
ALTER TABLE metrics ADD COLUMN model_sha256 TEXT;
ALTER TABLE metrics ADD COLUMN seed INTEGER;                 -- the turn's sampling seed (reproducibility)

ALTER TABLE episodes ADD COLUMN dominant_theme_id INTEGER;

ALTER TABLE snapshots ADD COLUMN arousal REAL NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN quality REAL NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN themes TEXT NOT NULL DEFAULT '[]';  -- JSON [theme id]
ALTER TABLE snapshots ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;

ALTER TABLE bins ADD COLUMN theme_id INTEGER;            -- NULL for the origin bin
ALTER TABLE bins ADD COLUMN vocab_size INTEGER;
ALTER TABLE bins ADD COLUMN words TEXT;                  -- JSON: the theme words it was built from
ALTER TABLE bins ADD COLUMN retired_at INTEGER;
CREATE INDEX bins_live ON bins(retired_at, theme_id);

-- Small named values of the leo layer (counters, trauma level).
CREATE TABLE leo_state (
  key TEXT PRIMARY KEY,
  value REAL NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The word field. Words get integer ids so the n-gram tables stay small.
CREATE TABLE vocab (
  id INTEGER PRIMARY KEY,
  word TEXT NOT NULL UNIQUE,
  count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE bigram (
  a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE TABLE trigram (
  a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b, c)
) WITHOUT ROWID;
-- cooc(a,b) = cooc(b,a): each pair is stored once, with a <= b.
CREATE TABLE cooc (
  a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b)
) WITHOUT ROWID;

-- Trauma: word weights (halving with wall time from updated_at) and the event log.
CREATE TABLE trauma_words (
  word TEXT PRIMARY KEY,
  weight REAL NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE trauma_events (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  message_id INTEGER REFERENCES messages(id),
  score REAL NOT NULL,
  level REAL NOT NULL,
  words TEXT NOT NULL                                      -- JSON [word]
);

-- Themes (islands) and their strength per turn.
CREATE TABLE themes (
  id INTEGER PRIMARY KEY,
  words TEXT NOT NULL,                                     -- JSON [word], most central first
  weights TEXT NOT NULL,                                   -- JSON [centrality in (0,1]]
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  active_streak INTEGER NOT NULL DEFAULT 0,
  dissolved_at INTEGER                                     -- set when a rebuild no longer finds it
);
-- Only active themes get a row; a turn without one reads as strength 0 (turns are the
-- replies in messages, found by time through messages_by_ts).
CREATE TABLE theme_strength (
  theme_id INTEGER NOT NULL REFERENCES themes(id),
  message_id INTEGER NOT NULL REFERENCES messages(id),
  ts INTEGER NOT NULL,
  strength REAL NOT NULL,
  PRIMARY KEY (theme_id, message_id)
) WITHOUT ROWID;
CREATE INDEX theme_strength_by_ts ON theme_strength(ts);
CREATE INDEX messages_by_ts ON messages(ts);
CREATE TABLE episode_themes (
  episode_id INTEGER NOT NULL REFERENCES episodes(id),
  theme_id INTEGER NOT NULL REFERENCES themes(id),
  hits INTEGER NOT NULL,
  PRIMARY KEY (episode_id, theme_id)
) WITHOUT ROWID;

-- Overthinking rings: silent continuations linked to the reply they grew from.
CREATE TABLE rings (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('echo', 'drift', 'meta')),
  text TEXT NOT NULL
);
CREATE INDEX rings_by_message ON rings(message_id);
