-- v6: the full-text index stays at a few segments. Every user message's commit writes a segment
-- of one document, and FTS5's automerge (4 per level) let ~17 pile up at 100k messages; each
-- recall query seeks every one of them (5 queries: 0.65 ms with ~17 segments, 0.2 with ~4). The
-- idle window after a reply runs FTS5's incremental 'merge' (messages.ts, mergeIndex), which with
-- usermerge 2 merges any level holding two segments, a bounded number of pages at a time. Only
-- the index's layout changes: every query returns the same rows.
INSERT INTO user_messages_fts(user_messages_fts, rank) VALUES ('usermerge', 2);
