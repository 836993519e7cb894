-- v4: the word field observes a turn's messages after the reply is out, not in the turn's two
-- commits (src/leo/README.md). field.through is the id of the last stored message it has
-- observed; a start observes the user messages and replies after it (what a kill left).
-- Up to v3 every message was observed in its own commit: all of them are in the field.
INSERT INTO leo_state (key, value, updated_at)
  VALUES ('field.through', (SELECT coalesce(max(id), 0) FROM messages), CAST(strftime('%s', 'now') AS INTEGER) * 1000);
