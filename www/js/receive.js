// receive.js: receiving a file, the bytes' side for both protocols and the
// TRANSFER messages' side for the new one (docs/protocol.md, "Extension:
// TRANSFER"). Owned by engine.js; v1.js hands it the old protocol's bytes.
//
// An offer {file, sha256, p2p} becomes a transfer in status offered; the
// page calls accept() (answer accept {p2p}) or decline(). The bytes come
// over a data channel "rtft:<id>" that the sender opens or through the
// server's binary relay, in order from one offset: the receiver keeps
// what extends what it has, answers ack {offset} (every ACK_BYTES or
// ACK_MS) and ack {offset, gap: true} when bytes skipped ahead, and at the
// end checks the SHA-256 and answers done {sha256} or failed {reason}.

import { FileSink } from './sinks.js';
import { MainCore, WorkerPool } from './receiver.js';
import { MiB, safeFileName } from './util.js';
import { inDataPhase, validSize } from './common.js';
import { parseChunk } from './relay.js';

const ACK_BYTES = 1 * MiB;
const ACK_MS = 250;
const GAP_ACK_MS = 1000;             // at most one gap report this often
const CLOSE_AFTER_DONE_MS = 5000;

export class Receiver {
	// engine: the Engine (bookkeeping, connection, options).
	constructor(engine) {
		this.e = engine;
		this.pool = new WorkerPool(new URL('./recv-worker.js', import.meta.url));
	}

	// An offer from sender (msg.id checked by the engine).
	onOffer(sender, msg) {
		const e = this.e;
		const f = msg.file;
		const key = 'r:' + sender + ':' + msg.id;
		if (e.transfers.has(key))
			return;
		const bad = (why) => e.conn.send({ type: 'TRANSFER', recipient: sender, id: msg.id, action: 'failed', reason: why });
		if (!f || typeof f !== 'object' || typeof f.name !== 'string' || !validSize(f.size)) {
			bad('invalid offer');
			return;
		}
		if (typeof msg.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(msg.sha256)) {
			bad('invalid offer: no sha256');
			return;
		}
		e._add({
			id: msg.id, direction: 'receive', peer: sender, name: safeFileName(f.name),
			size: f.size, type: typeof f.type === 'string' ? f.type.slice(0, 100) : '',
			protocol: 'transfer', status: 'offered', path: null, bytes: 0,
			sha256: msg.sha256.toLowerCase(), sha256ok: null, reason: '',
			p2pOffered: msg.p2p === true, received: 0, dcPos: 0, lastAckSent: 0,
		});
	}

	// The person accepted offer t. toDisk: stream to a file they pick
	// (call from the click handler, the picker needs the gesture).
	async accept(t, toDisk) {
		const e = this.e;
		let core;
		if (toDisk && FileSink.supported()) {
			let sink;
			try {
				sink = await FileSink.create(t.name);
			} catch (err) {
				if (err && err.name === 'AbortError')
					return; // the person closed the picker: still offered
				e._notice('cannot save to disk: ' + err.message);
				return;
			}
			if (t.status !== 'offered') {
				sink.abort();
				return;
			}
			core = new MainCore(sink);
		} else {
			core = this.pool.core();
		}
		core.onKept = () => this._maybeAck(t);
		core.onError = (err) => {
			if (inDataPhase(t))
				this.failReceive(t, err.message);
		};
		t.core = core;
		t.status = 'connecting';
		t.dataStart = t.lastDataAt = t.lastProgressAt = Date.now();
		e.conn.sendOrQueue(e._tmsg(t, 'accept', { p2p: e.p2pEnabled() }));
		e._changed(t);
		if (t.size === 0)
			this._finish(t);
	}

	decline(t) {
		const e = this.e;
		e.conn.sendOrQueue(e._tmsg(t, 'decline'));
		e._set(t, 'declined', 'you declined');
	}

	// A TRANSFER message from the sender about t (not final).
	onMessage(t, msg) {
		const e = this.e;
		switch (msg.action) {
		case 'path':
			if (msg.path === 'relay' || msg.path === 'p2p') {
				if (msg.path === 'relay' && t.path === 'p2p')
					e._closeChannel(t);
				t.path = msg.path;
				e._changed(t);
			}
			break;
		case 'cancel':
			e._set(t, 'cancelled', 'cancelled by ' + t.peer);
			break;
		case 'failed':
			e._fail(t, t.peer + ': ' + (typeof msg.reason === 'string' ? msg.reason.slice(0, 200) : 'failed'));
			break;
		}
	}

	// A data channel user opened to us (peers.js 'channel').
	onChannel({ user, link, channel }) {
		const e = this.e;
		const label = channel.label || '';
		let t = null;
		if (label.startsWith('rtft:'))
			t = e.transfers.get('r:' + user + ':' + label.slice(5));
		if (t && t.protocol === 'transfer' && inDataPhase(t)) {
			this.attachChannel(t, channel);
			return;
		}
		const v1 = e.v1.awaitingChannel(user);
		if (v1) {
			v1.link = link;
			this.attachChannel(v1, channel);
			return;
		}
		try {
			channel.close();
		} catch {
			// nothing to close
		}
	}

	attachChannel(t, dc) {
		const e = this.e;
		e._closeChannel(t);
		t.dc = dc;
		t.dcPos = 0;
		dc.binaryType = 'arraybuffer';
		if (t.path !== 'relay')
			t.path = 'p2p';
		e._changed(t);
		dc.onmessage = (ev) => {
			if (t.dc !== dc)
				return;
			if (typeof ev.data === 'string') {
				if (t.protocol === 'v1')
					e.v1.onChannelText(t, ev.data);
				return;
			}
			const bytes = new Uint8Array(ev.data);
			const off = t.dcPos;
			t.dcPos += bytes.length;
			this.onData(t, bytes, off);
		};
		dc.onclose = () => {
			if (t.dc === dc)
				t.dc = null;
		};
	}

	// A binary message from the server (the relay).
	onBinary(buf) {
		const e = this.e;
		const c = parseChunk(buf);
		if (!c)
			return;
		const t = e.transfers.get('r:' + c.name + ':' + c.id);
		if (!t || t.protocol !== 'transfer')
			return;
		if (t.path !== 'relay' && inDataPhase(t)) {
			t.path = 'relay';
			e._changed(t);
		}
		this.onData(t, c.data, c.offset);
	}

	// Bytes at offset off of t's file, from either path. Only what extends
	// the bytes kept so far is used: earlier bytes are repeats (a resend
	// from the last ack), later ones follow a gap and are dropped (the
	// sender sends them again).
	onData(t, bytes, off) {
		const e = this.e;
		if (!inDataPhase(t) || !t.core)
			return;
		const now = Date.now();
		t.lastDataAt = now;
		if (t.status === 'connecting') {
			t.status = 'transferring';
			e._changed(t);
		}
		if (off > t.received) {
			if (t.protocol === 'transfer' && now - (t.lastGapAck || 0) > GAP_ACK_MS) {
				t.lastGapAck = now;
				e.conn.send(e._tmsg(t, 'ack', { offset: t.core.kept, gap: true }));
			}
			return;
		}
		const end = off + bytes.length;
		if (end <= t.received)
			return;
		const piece = off < t.received ? bytes.subarray(t.received - off) : bytes;
		if (t.received + piece.length > t.size) {
			this.failReceive(t, 'more data than announced');
			return;
		}
		t.received += piece.length;
		t.core.write(piece); // piece's buffer is the core's from now on
		t.bytes = t.received;
		t.lastProgressAt = now;
		if (t.protocol === 'transfer') {
			this._maybeAck(t);
			if (t.received === t.size)
				this._finish(t);
		}
	}

	_maybeAck(t) {
		if (t.protocol !== 'transfer' || !inDataPhase(t) || !t.core)
			return;
		if (t.core.kept - t.lastAckSent >= ACK_BYTES)
			this._sendAck(t);
		else if (!t.ackTimer && t.core.kept > t.lastAckSent)
			t.ackTimer = setTimeout(() => {
				t.ackTimer = 0;
				this._sendAck(t);
			}, ACK_MS);
	}

	_sendAck(t) {
		const e = this.e;
		clearTimeout(t.ackTimer);
		t.ackTimer = 0;
		if (!t.core || t.core.kept <= t.lastAckSent)
			return;
		if (e.conn.send(e._tmsg(t, 'ack', { offset: t.core.kept })))
			t.lastAckSent = t.core.kept;
	}

	// Fails t and tells the sender why.
	failReceive(t, reason) {
		const e = this.e;
		e.conn.sendOrQueue(e._tmsg(t, 'failed', { reason }));
		e._fail(t, reason);
	}

	async _finish(t) {
		const e = this.e;
		if (t.verifying)
			return;
		t.verifying = true;
		const core = t.core;
		let digest, blob;
		try {
			({ sha256: digest, blob } = await core.finish());
		} catch (err) {
			if (inDataPhase(t))
				this.failReceive(t, 'could not store the file (' + (err && err.message) + ')');
			return;
		}
		if (!inDataPhase(t))
			return;
		if (digest !== t.sha256) {
			t.sha256ok = false;
			this.failReceive(t, 'checksum mismatch');
			return;
		}
		this._sendAck(t);
		t.sha256ok = true;
		e.conn.sendOrQueue(e._tmsg(t, 'done', { sha256: digest }));
		this.complete(t, blob);
	}

	// t's bytes are all kept: in blob, or in the file the person picked.
	complete(t, blob) {
		if (blob) {
			t.blob = blob;
			t.url = URL.createObjectURL(blob);
			t.blobSize = blob.size;
		} else if (t.core && t.core.kind === 'file') {
			t.savedAs = t.core.sink.fileName;
		}
		t.bytes = t.size;
		this.e._set(t, 'done', '');
	}

	// After done: the sender closes the channel when it reads our done;
	// closing it first could make it look broken there.
	lingerChannel(t) {
		const dc = t.dc;
		t.dc = null;
		dc.onmessage = null;
		setTimeout(() => {
			try {
				dc.close();
			} catch {
				// closed
			}
		}, CLOSE_AFTER_DONE_MS);
	}
}
