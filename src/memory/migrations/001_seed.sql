-- v1: the seed's five tables (one never-ending session).
-- All times are unix milliseconds.

CREATE TABLE episodes (
  id INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  title TEXT
);

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
);

CREATE TABLE metrics (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  ts INTEGER NOT NULL,
  entropy REAL,
  novelty REAL,
  trauma REAL,
  presence_pulse REAL
);
CREATE INDEX metrics_by_message ON metrics(message_id);

CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY,
  message_id INTEGER REFERENCES messages(id),
  ts INTEGER NOT NULL,
  text TEXT NOT NULL
);
