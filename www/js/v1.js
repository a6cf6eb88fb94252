// v1.js: the original protocol, for clients that do not speak TRANSFER
// (PEER_INFO says transfer 0, or the server does not answer PEER_INFO).
// Owned by engine.js; the bytes received go through receive.js.
//
// Sending, one file at a time per person: FILE_METADATA {recipient, file
// {name, size, type}, transferMode}, then either a data channel
// "rtft:<id>" on a legacy link with 256 KiB binary messages and the text
// {"type":"EOF"}, or (no channel, or it broke: everything again) FILE_CHUNK
// {recipient, file {name, size, offset, data: [bytes]}} through the server
// and FILE_COMPLETE {recipient, fileName}. Nothing confirms receipt: the
// end state is "sent".
// Receiving: FILE_METADATA from sender, then the same. No checksum: the
// end state is "done" with sha256ok null.

import { KiB, randomId, plausibleName, safeFileName } from './util.js';
import { P2P_LOW, P2P_HIGH, WS_HIGH, inDataPhase, validSize, maxMessageBytes, isFinal } from './common.js';

const V1_CHUNK = 256 * KiB;          // what old clients send and expect
const V1_CLOSE_WAIT_MS = 30000;      // for a v1 data channel's close after EOF
const LINK_LINGER_MS = 2000;         // before closing a link after the last byte

export class V1 {
	// engine: the Engine (bookkeeping, connection, links, options).
	constructor(engine) {
		this.e = engine;
		this._queues = new Map(); // user -> [transfer] (sends to old clients)
		this._busy = new Set();
		this._recv = new Map();   // user -> transfer (receiving from an old client)
	}

	// ---- sending ----

	// t (a new send) goes to an old client: after the others to its person.
	enqueue(t) {
		t.protocol = 'v1';
		t.status = 'queued';
		this.e._changed(t);
		let q = this._queues.get(t.peer);
		if (!q)
			this._queues.set(t.peer, q = []);
		q.push(t);
		this._next(t.peer);
	}

	_next(user) {
		if (this._busy.has(user))
			return;
		const q = this._queues.get(user) || [];
		while (q.length && isFinal(q[0]))
			q.shift();
		const t = q.shift();
		if (!t) {
			this._queues.delete(user);
			return;
		}
		this._busy.add(user);
		this._send(t).catch((err) => this.e._fail(t, 'error: ' + err.message)).finally(() => {
			this._busy.delete(user);
			this._next(user);
		});
	}

	_meta(t, mode) {
		return { type: 'FILE_METADATA', recipient: t.peer, file: { name: t.name, size: t.size, type: t.type }, transferMode: mode };
	}

	async _send(t) {
		const e = this.e;
		t.status = 'connecting';
		t.dataStart = t.lastProgressAt = Date.now();
		e._changed(t);
		if (e.p2pEnabled()) {
			const ok = await this._sendP2P(t);
			if (ok || isFinal(t))
				return;
			t.pathNote = 'no direct connection';
		}
		await this._sendWS(t);
	}

	// Resolves true when dc opens, false when it does not within the
	// timeout or t ends.
	_opened(t, dc) {
		const timeout = this.e.p2pTimeoutMs();
		return new Promise((resolve) => {
			const timer = setTimeout(() => resolve(false), timeout);
			dc.onopen = () => {
				clearTimeout(timer);
				resolve(true);
			};
			dc.onclose = () => {
				clearTimeout(timer);
				resolve(false);
			};
			t.signal.wait().then(() => {
				if (isFinal(t)) {
					clearTimeout(timer);
					resolve(false);
				}
			});
		});
	}

	// Returns true when the file went over the data channel (or t ended).
	async _sendP2P(t) {
		const e = this.e;
		e.conn.send(this._meta(t, 'webrtc'));
		let link;
		try {
			link = await e.peers.legacyLink(t.peer);
		} catch {
			return false;
		}
		t.v1Link = link;
		const dc = link.channel('rtft:' + t.id);
		t.dc = dc;
		const opened = await this._opened(t, dc);
		if (!opened || isFinal(t)) {
			e._closeChannel(t);
			t.v1Link = null;
			link.close('no data channel');
			return false;
		}
		t.path = 'p2p';
		t.status = 'transferring';
		e._changed(t);
		const closed = await this._pump(t, dc, link);
		if (closed === null || isFinal(t))
			return true;
		if (closed) {
			// Broken before the end: start again through the server.
			e._closeChannel(t);
			t.v1Link = null;
			link.close('channel closed');
			t.path = null;
			t.bytes = 0;
			t.sentPos = 0;
			e._changed(t);
			return false;
		}
		const delivered = await this._closed(t, dc);
		if (isFinal(t))
			return true;
		t.bytes = t.size;
		if (!delivered)
			t.pathNote = 'the data channel did not confirm the end within ' + V1_CLOSE_WAIT_MS / 1000 + ' s';
		e._set(t, 'sent', '');
		return true;
	}

	// Sends the file and EOF over dc and waits until dc has handed all to
	// the network. Returns true when the channel closed on the way, false
	// when not, null when t failed here.
	async _pump(t, dc, link) {
		let msgMax = V1_CHUNK;
		const sctp = link.pc.sctp;
		if (sctp && sctp.maxMessageSize && sctp.maxMessageSize < msgMax)
			msgMax = sctp.maxMessageSize;
		let closed = false;
		dc.onclose = () => {
			closed = true;
			t.signal.fire();
		};
		dc.bufferedAmountLowThreshold = P2P_LOW;
		dc.onbufferedamountlow = () => t.signal.fire();
		let pos = 0;
		while (pos < t.size) {
			while (!closed && dc.bufferedAmount > P2P_HIGH - msgMax && !isFinal(t))
				await t.signal.wait(1000);
			if (isFinal(t))
				return null;
			if (closed)
				break;
			const buf = await t.file.slice(pos, Math.min(t.size, pos + msgMax)).arrayBuffer();
			if (buf.byteLength === 0) {
				this.e._fail(t, 'the file could not be read');
				return null;
			}
			try {
				dc.send(buf);
			} catch {
				closed = true;
				break;
			}
			pos += buf.byteLength;
			t.sentPos = pos;
			t.bytes = Math.max(0, pos - dc.bufferedAmount);
		}
		if (!closed) {
			try {
				dc.send(JSON.stringify({ type: 'EOF' }));
			} catch {
				closed = true;
			}
		}
		while (!closed && !isFinal(t) && dc.bufferedAmount > 0) {
			t.bytes = Math.max(0, t.size - dc.bufferedAmount);
			await t.signal.wait(100);
		}
		return closed;
	}

	// v1 has no acknowledgement, but SCTP completes a channel's close (a
	// stream reset) only once the other side has every message sent
	// before it: closes dc and resolves true when that completed.
	_closed(t, dc) {
		return new Promise((resolve) => {
			const timer = setTimeout(() => resolve(false), V1_CLOSE_WAIT_MS);
			dc.onclose = () => {
				clearTimeout(timer);
				resolve(true);
			};
			t.signal.wait().then(() => {
				if (isFinal(t)) {
					clearTimeout(timer);
					resolve(false);
				}
			});
			dc.close();
		});
	}

	async _sendWS(t) {
		const e = this.e;
		const conn = e.conn;
		// Each byte is up to 4 characters of JSON ("255,").
		const chunk = Math.max(1024, Math.min(V1_CHUNK, Math.floor((maxMessageBytes(conn) - 1024) / 4)));
		t.path = 'relay';
		t.status = 'transferring';
		t.v1ws = true;
		e._changed(t);
		if (!conn.send(this._meta(t, 'websocket'))) {
			e._fail(t, 'not connected to the server');
			return;
		}
		const prefix = '{"type":"FILE_CHUNK","recipient":' + JSON.stringify(t.peer) +
			',"file":{"name":' + JSON.stringify(t.name) + ',"size":' + t.size + ',"offset":';
		let pos = 0;
		let sent = 0;
		while (pos < t.size) {
			while (!isFinal(t) && conn.online && conn.bufferedAmount > WS_HIGH) {
				t.bytes = Math.max(0, sent - conn.bufferedAmount);
				await t.signal.wait(20);
			}
			if (isFinal(t))
				return;
			if (!conn.online) {
				e._fail(t, 'the connection to the server was lost');
				return;
			}
			const buf = await t.file.slice(pos, Math.min(t.size, pos + chunk)).arrayBuffer();
			if (buf.byteLength === 0) {
				e._fail(t, 'the file could not be read');
				return;
			}
			const u8 = new Uint8Array(buf);
			const text = prefix + pos + ',"data":[' + u8.join(',') + ']}}';
			if (!conn.sendText(text)) {
				e._fail(t, 'the connection to the server was lost');
				return;
			}
			pos += u8.length;
			sent += text.length;
			t.sentPos = pos;
			t.bytes = Math.round(pos * Math.max(0, sent - conn.bufferedAmount) / sent);
		}
		conn.send({ type: 'FILE_COMPLETE', recipient: t.peer, fileName: t.name });
		while (!isFinal(t) && conn.online && conn.bufferedAmount > 0)
			await t.signal.wait(50);
		if (isFinal(t))
			return;
		if (!conn.online) {
			e._fail(t, 'the connection to the server was lost');
			return;
		}
		t.bytes = t.size;
		e._set(t, 'sent', '');
	}

	// ---- receiving ----

	onFileMetadata(msg) {
		const e = this.e;
		const sender = msg.sender;
		const f = msg.file;
		if (!plausibleName(sender) || !f || typeof f !== 'object' || !validSize(f.size))
			return;
		const name = safeFileName(f.name);
		const mode = msg.transferMode === 'webrtc' ? 'webrtc' : 'websocket';
		let t = this._recv.get(sender);
		if (t && inDataPhase(t) && t.name === name && t.size === f.size && t.received < t.size) {
			// The same file again (a sender that moved from webrtc to
			// websocket): start over.
			e._closeChannel(t);
			if (t.core)
				t.core.abort();
			t.core = this._core(t);
			t.received = 0;
			t.bytes = 0;
		} else {
			if (t && inDataPhase(t))
				e._fail(t, 'interrupted by another file from ' + sender);
			t = e._add({
				id: 'v1-' + randomId().slice(0, 16), direction: 'receive', peer: sender, name,
				size: f.size, type: '', protocol: 'v1', status: 'connecting', path: null, bytes: 0,
				sha256: null, sha256ok: null, reason: '', received: 0, dcPos: 0, lastAckSent: 0,
			});
			t.core = this._core(t);
			this._recv.set(sender, t);
		}
		t.mode = mode;
		t.path = mode === 'webrtc' ? null : 'relay';
		t.dataStart = t.lastDataAt = t.lastProgressAt = Date.now();
		if (mode === 'webrtc' && !e.p2pEnabled())
			e._fail(t, sender + ' wants a direct connection, which is off on this page');
		e._changed(t);
	}

	_core(t) {
		const core = this.e.receiver.pool.core();
		core.onError = (err) => {
			if (inDataPhase(t) && t.core === core)
				this.e._fail(t, err.message);
		};
		return core;
	}

	// The file user is sending us over a data channel, waiting for it; or null.
	awaitingChannel(user) {
		const t = this._recv.get(user);
		return t && inDataPhase(t) && t.mode === 'webrtc' ? t : null;
	}

	// A text message on t's data channel: {"type":"EOF"} ends the file.
	onChannelText(t, text) {
		let m = null;
		try {
			m = JSON.parse(text);
		} catch {
			// not for us
		}
		if (m && m.type === 'EOF')
			this._finish(t);
	}

	onFileChunk(msg) {
		const t = this._recv.get(msg.sender);
		const f = msg.file;
		if (!t || !inDataPhase(t) || !f || !Array.isArray(f.data) || !validSize(f.offset))
			return;
		if (t.mode !== 'websocket') {
			t.mode = 'websocket';
			t.path = 'relay';
		}
		let bytes;
		try {
			bytes = Uint8Array.from(f.data);
		} catch {
			return;
		}
		this.e.receiver.onData(t, bytes, f.offset);
	}

	onFileComplete(msg) {
		const t = this._recv.get(msg.sender);
		if (t && inDataPhase(t))
			this._finish(t);
	}

	async _finish(t) {
		const e = this.e;
		if (t.received !== t.size) {
			e._fail(t, 'incomplete: ' + t.received + ' of ' + t.size + ' bytes arrived');
			return;
		}
		if (t.verifying)
			return;
		t.verifying = true;
		let r;
		try {
			r = await t.core.finish();
		} catch (err) {
			if (inDataPhase(t))
				e._fail(t, 'could not store the file (' + (err && err.message) + ')');
			return;
		}
		if (!inDataPhase(t))
			return;
		t.sha256 = r.sha256;
		e.receiver.complete(t, r.blob);
		const link = t.link;
		if (link)
			setTimeout(() => link.close('file received'), LINK_LINGER_MS);
	}

	// t ended (engine.js _cleanup): let go of what v1 holds for it.
	cleanup(t) {
		if (t.direction === 'send' && t.v1Link) {
			const l = t.v1Link;
			t.v1Link = null;
			setTimeout(() => l.close('file sent'), LINK_LINGER_MS);
		}
		if (t.direction === 'receive' && this._recv.get(t.peer) === t)
			this._recv.delete(t.peer);
	}
}
