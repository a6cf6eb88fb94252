// send.js: sending a file to a client that speaks TRANSFER (PEER_INFO says
// transfer 1; docs/protocol.md, "Extension: TRANSFER"). Sends to old
// clients go to v1.js. Owned by engine.js, which hands it the transfers
// and the TRANSFER messages about them.
//
// The sender's side: hash the file (one at a time), send offer {file,
// sha256, p2p}; on accept send the bytes over a data channel
// "rtft:<id>" (64 KiB messages) or, when the channel does not open
// within the timeout, breaks or stalls, through the server's binary relay
// from the receiver's last ack (path {path, offset} says which); ack
// {offset[, gap]} moves the transfer on, done {sha256} ends it, failed,
// decline and cancel end it too.

import { hashFile } from './sha256.js';
import { KiB, MiB, randomId } from './util.js';
import { P2P_LOW, P2P_HIGH, WS_HIGH, inDataPhase, validSize, maxMessageBytes } from './common.js';
import { RELAY_CHUNK, RelayWindows, SliceReader, chunkHeader, chunkFrame } from './relay.js';

const P2P_CHUNK = 64 * KiB;          // data channel message between pages
const P2P_READ = 1 * MiB;            // file slice read at a time
const RELAY_READ = 2 * MiB;
const P2P_STALL_MS = 10000;          // no ack for this long on p2p: use the relay
const RELAY_STALL_MS = 5000;         // no ack for this long on the relay: resend
const REWIND_GAP_MS = 1000;          // at most one resend per gap report this often
const DONE_GRACE_MS = 3000;          // after the last byte, for a done through the server
const SLOW_PAUSE_MS = 300;           // after slow_recipient: let the server's queue drain

export class Sender {
	// engine: the Engine (bookkeeping, connection, links, options).
	constructor(engine) {
		this.e = engine;
		this._hashChain = Promise.resolve();
		this.windows = new RelayWindows(() => engine.conn.server && engine.conn.server.maxOutboundBytes);
	}

	// Sends files (File objects) to user; returns the new transfers.
	sendFiles(user, files) {
		const e = this.e;
		const out = [];
		for (const file of files) {
			const t = e._add({
				id: randomId(), direction: 'send', peer: user, name: file.name || 'file',
				size: file.size, type: file.type || '', protocol: null, status: 'preparing',
				path: null, bytes: 0, sha256: null, sha256ok: null, reason: '', file,
				acked: 0, sentPos: 0, relayPos: 0, gen: 0, hashed: 0,
			});
			out.push(t);
			this._start(t).catch((err) => e._fail(t, 'error: ' + err.message));
		}
		return out;
	}

	async _start(t) {
		const e = this.e;
		if (!e.conn.online) {
			e._fail(t, 'not connected to the server');
			return;
		}
		const info = await e.peerInfo(t.peer);
		if (!e._live(t))
			return;
		t.peerInfo = info;
		if (!info.online) {
			e._fail(t, t.peer + ' is not online');
			return;
		}
		if (info.transfer >= 1) {
			t.protocol = 'transfer';
			await this._hashThenOffer(t);
		} else {
			e.v1.enqueue(t);
		}
	}

	_hashThenOffer(t) {
		const e = this.e;
		t.status = 'hashing';
		e._changed(t);
		// One file hashed at a time: the CPU and the disk are shared.
		const run = async () => {
			if (!e._live(t))
				return;
			let digest;
			try {
				digest = await hashFile(t.file, (n) => {
					t.hashed = n;
				}, () => !e._live(t));
			} catch (err) {
				if (e._live(t))
					e._fail(t, err.message === 'cancelled' ? 'cancelled' : 'the file could not be read (' + err.message + ')');
				return;
			}
			if (!e._live(t))
				return;
			t.sha256 = digest;
			t.status = 'waiting';
			e.conn.sendOrQueue(e._tmsg(t, 'offer', {
				file: { name: t.name, size: t.size, type: t.type },
				sha256: digest,
				p2p: e.p2pEnabled(),
			}));
			e._changed(t);
		};
		const p = this._hashChain.then(run);
		this._hashChain = p.catch(() => {});
		return p;
	}

	// A TRANSFER message from the receiver about t (not final).
	onMessage(t, msg) {
		const e = this.e;
		switch (msg.action) {
		case 'accept':
			this._onAccept(t, msg);
			break;
		case 'decline':
			if (t.status === 'waiting' || t.status === 'hashing')
				e._set(t, 'declined', t.peer + ' declined');
			break;
		case 'ack':
			this._onAck(t, msg);
			break;
		case 'done':
			if (typeof msg.sha256 === 'string' && t.sha256 && msg.sha256.toLowerCase() !== t.sha256) {
				t.sha256ok = false;
				e._fail(t, t.peer + ' reports a different checksum');
				return;
			}
			t.bytes = t.acked = t.size;
			t.sha256ok = true;
			e._set(t, 'done', '');
			break;
		case 'failed':
			if (msg.reason === 'checksum mismatch')
				t.sha256ok = false;
			e._fail(t, t.peer + ': ' + (typeof msg.reason === 'string' ? msg.reason.slice(0, 200) : 'failed'));
			break;
		case 'cancel':
			e._set(t, 'cancelled', 'cancelled by ' + t.peer);
			break;
		}
	}

	_onAccept(t, msg) {
		const e = this.e;
		if (t.status !== 'waiting')
			return;
		t.status = 'connecting';
		t.dataStart = t.lastAckAt = t.lastProgressAt = Date.now();
		e._changed(t);
		if (t.size === 0) {
			t.status = 'transferring';
			e._changed(t);
		} else if (e.p2pEnabled() && msg.p2p !== false) {
			this._p2pSend(t).catch((err) => this.toRelay(t, 'peer to peer failed: ' + err.message));
		} else {
			this.toRelay(t, 'peer to peer is off');
		}
	}

	_onAck(t, msg) {
		const off = msg.offset;
		if (!validSize(off) || off > t.size)
			return;
		const now = Date.now();
		if (off > t.acked) {
			if (t.path === 'relay')
				this.windows.grow(t.peer, off - t.acked);
			t.acked = off;
			t.bytes = off;
			t.lastAckAt = t.lastProgressAt = now;
			t.signal.fire();
		}
		// The receiver saw a gap on the relay (a chunk the server
		// could not deliver): send again from its position.
		if (msg.gap === true && t.path === 'relay' && off < t.relayPos && now - (t.lastRewindAt || 0) > REWIND_GAP_MS) {
			this.windows.shrink(t.peer);
			this.rewind(t);
		}
	}

	// ---- peer to peer ----

	async _p2pSend(t) {
		const e = this.e;
		const link = await e.peers.link(t.peer);
		if (!inDataPhase(t) || t.path)
			return;
		const dc = link.channel('rtft:' + t.id);
		t.dc = dc;
		t.link = link;
		const timeout = e.p2pTimeoutMs();
		t.openTimer = setTimeout(() => {
			if (t.dc !== dc || dc.readyState === 'open')
				return;
			// Nothing came through: a connection that never got up is
			// not worth keeping for the next transfer either.
			if (link.pc.connectionState !== 'connected')
				link.close('no data channel within ' + timeout + ' ms');
			this.toRelay(t, 'no direct connection within ' + Math.round(timeout / 1000) + ' s');
		}, timeout);
		const broke = (why) => {
			if (t.dc !== dc || !inDataPhase(t) || t.path === 'relay')
				return;
			if (t.sentPos >= t.size && t.path === 'p2p') {
				// Everything went out: the receiver's done may be on its
				// way through the server. Give it a moment.
				setTimeout(() => {
					if (t.dc === dc && inDataPhase(t))
						this.toRelay(t, why);
				}, DONE_GRACE_MS);
				return;
			}
			this.toRelay(t, why);
		};
		dc.onopen = () => {
			clearTimeout(t.openTimer);
			if (t.dc !== dc || !inDataPhase(t))
				return;
			t.path = 'p2p';
			t.status = 'transferring';
			t.lastAckAt = t.lastProgressAt = Date.now();
			e.conn.sendOrQueue(e._tmsg(t, 'path', { path: 'p2p', offset: 0 }));
			e._changed(t);
			this._p2pPump(t, dc).catch((err) => broke('the direct connection broke (' + err.message + ')'));
		};
		dc.onclose = () => broke('the direct connection closed');
		dc.onerror = () => broke('the direct connection failed');
		const onLinkClose = (ev) => broke(ev.detail.reason);
		link.addEventListener('close', onLinkClose, { once: true });
		t.unlink = () => link.removeEventListener('close', onLinkClose);
	}

	async _p2pPump(t, dc) {
		const e = this.e;
		dc.bufferedAmountLowThreshold = P2P_LOW;
		dc.onbufferedamountlow = () => t.signal.fire();
		const file = t.file;
		let pos = 0;
		let next = file.slice(0, P2P_READ).arrayBuffer();
		while (pos < t.size) {
			while (dc.readyState === 'open' && dc.bufferedAmount > P2P_HIGH - P2P_READ && t.dc === dc)
				await t.signal.wait(1000);
			if (t.dc !== dc || t.path !== 'p2p' || !inDataPhase(t))
				return;
			if (dc.readyState !== 'open')
				throw new Error('channel ' + dc.readyState);
			let buf;
			try {
				buf = await next;
			} catch (err) {
				e._fail(t, 'the file could not be read (' + err.message + ')');
				return;
			}
			if (t.dc !== dc || t.path !== 'p2p' || !inDataPhase(t))
				return;
			const end = pos + buf.byteLength;
			if (buf.byteLength === 0) {
				e._fail(t, 'the file could not be read (it changed?)');
				return;
			}
			next = end < t.size ? file.slice(end, end + P2P_READ).arrayBuffer() : null;
			for (let o = 0; o < buf.byteLength; o += P2P_CHUNK)
				dc.send(new Uint8Array(buf, o, Math.min(P2P_CHUNK, buf.byteLength - o)));
			pos = end;
			t.sentPos = pos;
		}
		// All handed over: the receiver's acks and its done finish it.
	}

	// ---- through the server's relay ----

	_relayUsable(t) {
		return this.e.serverRelays() && (!t.peerInfo || t.peerInfo.binaryRelay !== false);
	}

	// Moves t to the relay (why: shown as the path's note), from the last ack.
	toRelay(t, why) {
		const e = this.e;
		if (!inDataPhase(t) || t.path === 'relay')
			return;
		clearTimeout(t.openTimer);
		e._closeChannel(t);
		if (!this._relayUsable(t)) {
			e._fail(t, why + '; the server relay is not available');
			return;
		}
		t.path = 'relay';
		t.pathNote = why;
		t.status = 'transferring';
		t.relayPos = t.acked;
		t.gen++;
		t.lastAckAt = Date.now();
		e.conn.sendOrQueue(e._tmsg(t, 'path', { path: 'relay', offset: t.acked }));
		e._changed(t);
		this._relayPump(t).catch((err) => e._fail(t, 'relay: ' + err.message));
	}

	// Sends again from the last ack (what was in flight may be lost).
	rewind(t) {
		t.relayPos = t.acked;
		t.gen++;
		t.lastRewindAt = Date.now();
		t.signal.fire();
	}

	// The server could not keep a chunk for t's receiver (relay path):
	// wait, send less and send again.
	slowDown(t) {
		this.windows.shrink(t.peer);
		t.pauseUntil = Date.now() + SLOW_PAUSE_MS;
		this.rewind(t);
	}

	// Bytes sent through the relay to user and not yet acknowledged, over
	// all transfers to them (the server holds at most max_outbound_bytes
	// for one receiver).
	_unackedTo(user) {
		let n = 0;
		for (const t of this.e.transfers.values())
			if (t.direction === 'send' && t.peer === user && t.path === 'relay' && inDataPhase(t))
				n += Math.max(0, t.relayPos - t.acked);
		return n;
	}

	// How long the relay pump must wait before t's next chunk, 0 for not.
	_relayWait(t) {
		const conn = this.e.conn;
		if (t.relayPos >= t.size)
			return 1000;
		if (!conn.online)
			return 500;
		const now = Date.now();
		if (t.pauseUntil && now < t.pauseUntil)
			return t.pauseUntil - now;
		if (conn.bufferedAmount > WS_HIGH || this._unackedTo(t.peer) >= this.windows.bytes(t.peer))
			return 5;
		return 0;
	}

	async _relayPump(t) {
		const e = this.e;
		const head = chunkHeader(t.peer, t.id);
		const chunk = Math.max(1024, Math.min(RELAY_CHUNK, maxMessageBytes(e.conn) - head.length));
		// The file is read RELAY_READ bytes at a time, one read ahead.
		const reader = new SliceReader(t.file, t.size, RELAY_READ);
		while (inDataPhase(t) && t.path === 'relay') {
			const wait = this._relayWait(t);
			if (wait) {
				await t.signal.wait(wait);
				continue;
			}
			const gen = t.gen;
			const pos = t.relayPos;
			const end = Math.min(t.size, pos + chunk);
			let data;
			try {
				data = await reader.get(pos, end);
			} catch (err) {
				e._fail(t, 'the file could not be read (' + err.message + ')');
				return;
			}
			if (gen !== t.gen || !inDataPhase(t) || t.path !== 'relay')
				continue;
			if (!e.conn.sendBinary(chunkFrame(head, pos, data)))
				continue;
			t.relayPos = end;
			if (end > t.sentPos)
				t.sentPos = end;
		}
	}

	// ---- the clock (engine.js calls these) ----

	// Every tick for t in its data phase while the server connection is up:
	// no ack for a while means the path lost bytes.
	checkStall(t, now) {
		if (t.path === 'p2p' && t.sentPos > t.acked && now - t.lastAckAt > P2P_STALL_MS) {
			this.toRelay(t, 'the direct connection stalled');
		} else if (t.path === 'relay' && t.relayPos > t.acked && now - t.lastAckAt > RELAY_STALL_MS &&
			   now - (t.lastRewindAt || 0) > RELAY_STALL_MS) {
			this.windows.shrink(t.peer);
			this.rewind(t);
		}
	}
}
