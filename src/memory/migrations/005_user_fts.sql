-- v5: the full-text index holds the user's messages only. Recall searches nothing else (what the
-- user said is the memory that bears on a message), and over the whole history each hit had to be
-- joined to messages to filter the role: at 100k messages that join and the replies' half of the
-- doclists were ~0.7 ms of a turn's 2 ms of search, and every reply's commit wrote a segment.
-- The index is derived from messages.text (external content), so dropping the old one loses
-- nothing: the new one is built from the stored user messages.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE user_messages_fts USING fts5(
  text,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER user_messages_fts_insert AFTER INSERT ON messages WHEN new.role = 'user' BEGIN
  INSERT INTO user_messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER user_messages_fts_delete AFTER DELETE ON messages WHEN old.role = 'user' BEGIN
  INSERT INTO user_messages_fts(user_messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER user_messages_fts_update AFTER UPDATE OF text, role ON messages BEGIN
  INSERT INTO user_messages_fts(user_messages_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.role = 'user';
  INSERT INTO user_messages_fts(rowid, text) SELECT new.id, new.text WHERE new.role = 'user';
END;
INSERT INTO user_messages_fts(rowid, text) SELECT id, text FROM messages WHERE role = 'user';
