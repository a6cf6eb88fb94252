-- 0001_init.sql (SQLite): the first schema.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); SQLite has no
-- timestamp type. Keep this file byte for byte once released: its SHA-256
-- is recorded in schema_migrations (which migrate.c creates, not this
-- file). Changes go into a new NNNN_what.sql. No BEGIN/COMMIT here: each
-- file already runs in its own transaction.

-- One row per file offer, from offer to outcome.
CREATE TABLE transfers (
	id INTEGER PRIMARY KEY,
	transfer_uid TEXT NOT NULL UNIQUE, -- the id the client and server agreed on
	sender TEXT NOT NULL,
	recipient TEXT NOT NULL,
	file_name TEXT, -- personal data: NULL unless storing names is configured
	file_size INTEGER NOT NULL CHECK (file_size >= 0),
	file_type TEXT,
	mode TEXT NOT NULL CHECK (mode IN ('webrtc', 'websocket', 'binary')),
	status TEXT NOT NULL
		CHECK (status IN ('offered', 'active', 'completed', 'failed', 'cancelled', 'declined')),
	bytes_relayed INTEGER NOT NULL DEFAULT 0 CHECK (bytes_relayed >= 0),
	node_id TEXT,
	worker INTEGER,
	started_at INTEGER NOT NULL,
	ended_at INTEGER,
	failure_reason TEXT
);
-- retention purges by age; listings are per sender
CREATE INDEX transfers_started_at_idx ON transfers (started_at);
CREATE INDEX transfers_sender_idx ON transfers (sender);

-- Who holds which name (cluster mode): the primary key makes a claim
-- atomic and names unique across every node.
CREATE TABLE presence (
	name TEXT PRIMARY KEY,
	node_id TEXT NOT NULL,
	worker INTEGER NOT NULL,
	conn_id INTEGER NOT NULL,
	generation INTEGER NOT NULL,
	room TEXT NOT NULL DEFAULT '',
	claimed_at INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL
);
-- release a dead node's names; list the names in a room
CREATE INDEX presence_node_id_idx ON presence (node_id);
CREATE INDEX presence_room_idx ON presence (room);

-- Live rtftd nodes and their heartbeats.
CREATE TABLE nodes (
	node_id TEXT PRIMARY KEY,
	hostname TEXT NOT NULL,
	pid INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL
);
