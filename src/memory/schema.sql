-- InnerArianna resonance.sqlite3 schema, GENERATED from src/memory/migrations/*.sql
-- by `bun src/memory/schema.ts --write`. Do not edit by hand. Times are unix ms.
PRAGMA user_version = 3;

CREATE TABLE episodes (
  id INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  title TEXT
, dominant_theme_id INTEGER);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('user', 'arianna', 'system')),
  text TEXT NOT NULL,
  episode_id INTEGER REFERENCES episodes(id),
  flags INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX messages_by_episode ON messages(episode_id, id);

CREATE TABLE bins (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  path_to_bin TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  decay_level REAL NOT NULL DEFAULT 0
, theme_id INTEGER, vocab_size INTEGER, words TEXT, retired_at INTEGER);

CREATE TABLE metrics (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  ts INTEGER NOT NULL,
  entropy REAL,
  novelty REAL,
  trauma REAL,
  presence_pulse REAL
, arousal REAL, trauma_level REAL, wounded INTEGER NOT NULL DEFAULT 0, quality REAL, candidates INTEGER, candidate_scores TEXT, external_ratio REAL, active_themes TEXT, bins_used TEXT, temperature REAL, prompt_tokens INTEGER, reply_tokens INTEGER, ttft_ms REAL, tokens_per_second REAL, stop_reason TEXT, model_sha256 TEXT, seed INTEGER, leo_version INTEGER NOT NULL DEFAULT 1, non_word_share REAL, stock_phrase_share REAL, entropy_band TEXT, empty_rings INTEGER NOT NULL DEFAULT 0, highlights TEXT);

CREATE INDEX metrics_by_message ON metrics(message_id);

CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY,
  message_id INTEGER REFERENCES messages(id),
  ts INTEGER NOT NULL,
  text TEXT NOT NULL
, arousal REAL NOT NULL DEFAULT 0, quality REAL NOT NULL DEFAULT 0, themes TEXT NOT NULL DEFAULT '[]', uses INTEGER NOT NULL DEFAULT 0);

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

CREATE INDEX bins_live ON bins(retired_at, theme_id);

CREATE TABLE leo_state (
  key TEXT PRIMARY KEY,
  value REAL NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE vocab (
  id INTEGER PRIMARY KEY,
  word TEXT NOT NULL UNIQUE,
  count INTEGER NOT NULL DEFAULT 0
, count_spoken INTEGER NOT NULL DEFAULT 0);

CREATE TABLE bigram (
  a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b)
) WITHOUT ROWID;

CREATE TABLE trigram (
  a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b, c)
) WITHOUT ROWID;

CREATE TABLE cooc (
  a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (a, b)
) WITHOUT ROWID;

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

CREATE TABLE themes (
  id INTEGER PRIMARY KEY,
  words TEXT NOT NULL,                                     -- JSON [word], most central first
  weights TEXT NOT NULL,                                   -- JSON [centrality in (0,1]]
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  active_streak INTEGER NOT NULL DEFAULT 0,
  dissolved_at INTEGER                                     -- set when a rebuild no longer finds it
);

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

CREATE TABLE rings (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('echo', 'drift', 'meta')),
  text TEXT NOT NULL
);

CREATE INDEX rings_by_message ON rings(message_id);

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

CREATE INDEX metrics_by_kernel ON metrics(model_sha256, message_id);
