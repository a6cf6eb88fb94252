// transfers.js: sending and receiving files.
//
// To a client that speaks TRANSFER (PEER_INFO says transfer 1):
//   offer (name, size, SHA-256) -> accept/decline -> the bytes over a
//   WebRTC data channel "rtft:<id>" (64 KiB messages), or through the
//   server's binary relay when the channel does not open within the
//   timeout or breaks (resuming at the receiver's last ack) -> the
//   receiver checks the digest and answers done or failed.
// To an old client (protocol v1): FILE_METADATA, then a data channel with
//   256 KiB binary messages and {"type":"EOF"}, or FILE_CHUNKs through the
//   server and FILE_COMPLETE. One at a time per person.
// From an old client: FILE_METADATA then FILE_CHUNKs or a data channel.
//
// Every transfer is a plain object kept in Engine.transfers; the engine
// emits 'added' and 'update' (detail: the transfer) and 'notice' (detail:
// text) for the page.

import { hashFile } from './sha256.js';
import { FileSink } from './sinks.js';
import { MainCore, WorkerPool } from './receiver.js';
import { KiB, MiB, Signal, randomId, hexToBytes, toHex, plausibleName, safeFileName } from './util.js';

const P2P_CHUNK = 64 * KiB;          // data channel message between pages
const P2P_READ = 1 * MiB;            // file slice read at a time
const P2P_LOW = 1 * MiB;             // bufferedAmountLowThreshold
const P2P_HIGH = 4 * MiB;            // never more than this buffered
const V1_CHUNK = 256 * KiB;          // what old clients send and expect
const RELAY_CHUNK = 256 * KiB;
const RELAY_READ = 2 * MiB;
const WS_HIGH = 4 * MiB;             // ws.bufferedAmount bound
const RELAY_WINDOW = 8 * MiB;        // unacked relay bytes per person, at most
const RELAY_WINDOW_MIN = 256 * KiB;  // ... and at least, after drops
const ACK_BYTES = 1 * MiB;
const ACK_MS = 250;
const P2P_STALL_MS = 10000;          // no ack for this long on p2p: use the relay
const RELAY_STALL_MS = 5000;         // no ack for this long on the relay: resend
const NO_PROGRESS_MS = 60000;        // then the transfer fails
const PEER_GONE_MS = 30000;          // a person off the list this long: fail
const SELF_OFFLINE_MS = 60000;       // our own connection down this long: fail
const PEER_INFO_TIMEOUT_MS = 5000;
const V1_CLOSE_WAIT_MS = 30000;      // for a v1 data channel's close after EOF
const TICK_MS = 300;
const BIN_KIND_CHUNK = 0x01;

const FINAL = new Set(['done', 'sent', 'declined', 'failed', 'cancelled']);
const enc = new TextEncoder();
const dec = new TextDecoder();

// Reads a file in big slices, one slice ahead, and hands out pieces of
// them; reading 256 KiB at a time costs a round trip to the browser each.
class SliceReader {
	constructor(file, size, slice) {
		this.file = file;
		this.size = size;
		this.slice = slice;
		this.cur = null;  // {start, bytes}
		this.next = null; // {start, promise}
	}

	_read(start) {
		const end = Math.min(this.size, start + this.slice);
		return { start, promise: this.file.slice(start, end).arrayBuffer() };
	}

	// Bytes [pos, end) of the file (end - pos <= slice).
	async get(pos, end) {
		const c = this.cur;
		if (!c || pos < c.start || end > c.start + c.bytes.length) {
			let n = this.next;
			if (!n || n.start !== pos)
				n = this._read(pos);
			this.next = null;
			const buf = await n.promise;
			this.cur = { start: n.start, bytes: new Uint8Array(buf) };
			if (this.cur.bytes.length < Math.min(this.slice, this.size - n.start))
				throw new Error('short read: the file changed?');
			const after = n.start + buf.byteLength;
			if (after < this.size)
				this.next = this._read(after);
		}
		const cur = this.cur;
		if (end > cur.start + cur.bytes.length)
			return this.get(pos, end);
		return cur.bytes.subarray(pos - cur.start, end - cur.start);
	}
}

export function isFinal(t) {
	return FINAL.has(t.status);
}

function validSize(n) {
	return Number.isSafeInteger(n) && n >= 0;
}

export class Engine extends EventTarget {
	// conn: Connection; peers: PeerManager; opts.p2pEnabled(): bool;
	// opts.p2pTimeoutMs(): number; opts.users(): Set of online names.
	constructor(conn, peers, opts) {
		super();
		this.conn = conn;
		this.peers = peers;
		this.p2pEnabled = opts.p2pEnabled;
		this.p2pTimeoutMs = opts.p2pTimeoutMs;
		this.users = opts.users;
		this.transfers = new Map(); // key -> transfer
		this.order = [];             // keys, oldest first
		this._peerInfoWaiters = new Map(); // user -> [resolve]
		this._hashChain = Promise.resolve();
		this._v1Queues = new Map();  // user -> [transfer] (sends to old clients)
		this._v1Busy = new Set();
		this._v1Recv = new Map();    // user -> transfer (receiving from an old client)
		this._goneSince = new Map(); // user -> time they left the list
		this._selfOfflineSince = 0;
		this._windows = new Map();   // user -> {bytes, shrunk}: relay window
		this._pool = new WorkerPool(new URL('./recv-worker.js', import.meta.url));
		peers.addEventListener('channel', (ev) => this._onChannel(ev.detail));
		conn.addEventListener('registered', () => this._onRegistered());
		conn.addEventListener('state', (ev) => this._onConnState(ev.detail.state));
		setInterval(() => this._tick(), TICK_MS);
	}

	// ---- bookkeeping ----

	_add(t) {
		t.key = t.direction[0] + ':' + t.peer + ':' + t.id;
		t.created = Date.now();
		t.samples = [];
		t.speed = 0;
		t.signal = new Signal();
		this.transfers.set(t.key, t);
		this.order.push(t.key);
		this.dispatchEvent(new CustomEvent('added', { detail: t }));
		return t;
	}

	_changed(t) {
		this.dispatchEvent(new CustomEvent('update', { detail: t }));
	}

	_notice(text) {
		this.dispatchEvent(new CustomEvent('notice', { detail: text }));
	}

	_set(t, status, reason) {
		if (isFinal(t))
			return;
		t.status = status;
		if (reason !== undefined)
			t.reason = reason;
		if (isFinal(t)) {
			t.finished = Date.now();
			this._cleanup(t);
		}
		this._changed(t);
	}

	_fail(t, reason) {
		this._set(t, 'failed', reason);
	}

	_cleanup(t) {
		clearTimeout(t.ackTimer);
		clearTimeout(t.openTimer);
		if (t.unlink) {
			t.unlink();
			t.unlink = null;
		}
		if (t.direction === 'receive' && t.status === 'done' && t.dc) {
			// The sender closes the channel when it reads our done; closing
			// it first could make it look broken there.
			const dc = t.dc;
			t.dc = null;
			dc.onmessage = null;
			setTimeout(() => {
				try {
					dc.close();
				} catch {
					// closed
				}
			}, 5000);
		}
		this._closeChannel(t);
		if (t.core && t.status !== 'done')
			t.core.abort();
		t.core = null;
		t.signal.fire();
		if (t.protocol === 'v1' && t.direction === 'send' && t.v1Link) {
			const l = t.v1Link;
			t.v1Link = null;
			setTimeout(() => l.close('file sent'), 2000);
		}
		if (t.direction === 'receive' && this._v1Recv.get(t.peer) === t)
			this._v1Recv.delete(t.peer);
	}

	_closeChannel(t) {
		const dc = t.dc;
		t.dc = null;
		if (!dc)
			return;
		dc.onopen = dc.onclose = dc.onerror = dc.onmessage = dc.onbufferedamountlow = null;
		try {
			dc.close();
		} catch {
			// already closed
		}
	}

	// A transfer that is still moving (not final).
	_live(t) {
		return !isFinal(t);
	}

	remove(key) {
		const t = this.transfers.get(key);
		if (!t || !isFinal(t))
			return;
		if (t.url)
			URL.revokeObjectURL(t.url);
		t.blob = null;
		this.transfers.delete(key);
		this.order = this.order.filter((k) => k !== key);
	}

	_tmsg(t, action, extra) {
		return Object.assign({ type: 'TRANSFER', recipient: t.peer, id: t.id, action }, extra || {});
	}

	// ---- peer information ----

	serverSpeaksTransfer() {
		const s = this.conn.server;
		return !!(s && s.transfer >= 1);
	}

	serverRelays() {
		const s = this.conn.server;
		return !!(s && s.binaryRelay);
	}

	// What the person's client understands; {online, transfer, binaryRelay}.
	peerInfo(user) {
		const guess = () => ({ online: this.users().has(user), transfer: 0, binaryRelay: false, guessed: true });
		if (!this.serverSpeaksTransfer())
			return Promise.resolve(guess());
		return new Promise((resolve) => {
			let list = this._peerInfoWaiters.get(user);
			const first = !list;
			if (!list) {
				list = [];
				this._peerInfoWaiters.set(user, list);
			}
			const timer = setTimeout(() => {
				const l = this._peerInfoWaiters.get(user);
				if (l) {
					const i = l.indexOf(done);
					if (i >= 0)
						l.splice(i, 1);
					if (l.length === 0)
						this._peerInfoWaiters.delete(user);
				}
				resolve(guess());
			}, PEER_INFO_TIMEOUT_MS);
			const done = (info) => {
				clearTimeout(timer);
				resolve(info || guess());
			};
			list.push(done);
			if (first && !this.conn.send({ type: 'PEER_INFO', user })) {
				this._peerInfoWaiters.delete(user);
				done(guess());
			}
		});
	}

	_onPeerInfo(msg) {
		const list = this._peerInfoWaiters.get(msg.user);
		if (!list)
			return;
		this._peerInfoWaiters.delete(msg.user);
		const info = {
			online: msg.online === true,
			transfer: Number.isInteger(msg.transfer) ? msg.transfer : 0,
			binaryRelay: msg.binaryRelay === true,
		};
		for (const f of list)
			f(info);
	}

	_peerInfoUnsupported() {
		const all = [...this._peerInfoWaiters.values()];
		this._peerInfoWaiters.clear();
		for (const list of all)
			for (const f of list)
				f(null);
	}

	// ---- sending ----

	// Sends files (File objects) to user; returns the new transfers.
	sendFiles(user, files) {
		const out = [];
		for (const file of files) {
			const t = this._add({
				id: randomId(), direction: 'send', peer: user, name: file.name || 'file',
				size: file.size, type: file.type || '', protocol: null, status: 'preparing',
				path: null, bytes: 0, sha256: null, sha256ok: null, reason: '', file,
				acked: 0, sentPos: 0, relayPos: 0, gen: 0, hashed: 0,
			});
			out.push(t);
			this._startSend(t).catch((e) => this._fail(t, 'error: ' + e.message));
		}
		return out;
	}

	async _startSend(t) {
		if (!this.conn.online) {
			this._fail(t, 'not connected to the server');
			return;
		}
		const info = await this.peerInfo(t.peer);
		if (!this._live(t))
			return;
		t.peerInfo = info;
		if (!info.online) {
			this._fail(t, t.peer + ' is not online');
			return;
		}
		if (info.transfer >= 1) {
			t.protocol = 'transfer';
			await this._hashThenOffer(t);
		} else {
			t.protocol = 'v1';
			t.status = 'queued';
			this._changed(t);
			let q = this._v1Queues.get(t.peer);
			if (!q)
				this._v1Queues.set(t.peer, q = []);
			q.push(t);
			this._v1Next(t.peer);
		}
	}

	_hashThenOffer(t) {
		t.status = 'hashing';
		this._changed(t);
		// One file hashed at a time: the CPU and the disk are shared.
		const run = async () => {
			if (!this._live(t))
				return;
			let digest;
			try {
				digest = await hashFile(t.file, (n) => {
					t.hashed = n;
				}, () => !this._live(t));
			} catch (e) {
				if (this._live(t))
					this._fail(t, e.message === 'cancelled' ? 'cancelled' : 'the file could not be read (' + e.message + ')');
				return;
			}
			if (!this._live(t))
				return;
			t.sha256 = digest;
			t.status = 'waiting';
			this.conn.sendOrQueue(this._tmsg(t, 'offer', {
				file: { name: t.name, size: t.size, type: t.type },
				sha256: digest,
				p2p: this.p2pEnabled(),
			}));
			this._changed(t);
		};
		const p = this._hashChain.then(run);
		this._hashChain = p.catch(() => {});
		return p;
	}

	_onSendMessage(t, msg) {
		switch (msg.action) {
		case 'accept':
			if (t.status !== 'waiting')
				return;
			t.status = 'connecting';
			t.dataStart = t.lastAckAt = t.lastProgressAt = Date.now();
			this._changed(t);
			if (t.size === 0) {
				t.status = 'transferring';
				this._changed(t);
			} else if (this.p2pEnabled() && msg.p2p !== false) {
				this._p2pSend(t).catch((e) => this._toRelay(t, 'peer to peer failed: ' + e.message));
			} else {
				this._toRelay(t, 'peer to peer is off');
			}
			break;
		case 'decline':
			if (t.status === 'waiting' || t.status === 'hashing')
				this._set(t, 'declined', t.peer + ' declined');
			break;
		case 'ack': {
			const off = msg.offset;
			if (!validSize(off) || off > t.size)
				return;
			const now = Date.now();
			if (off > t.acked) {
				if (t.path === 'relay')
					this._grow(t.peer, off - t.acked);
				t.acked = off;
				t.bytes = off;
				t.lastAckAt = t.lastProgressAt = now;
				t.signal.fire();
			}
			// The receiver saw a gap on the relay (a chunk the server
			// could not deliver): send again from its position.
			if (msg.gap === true && t.path === 'relay' && off < t.relayPos && now - (t.lastRewindAt || 0) > 1000) {
				this._shrink(t.peer);
				this._rewind(t);
			}
			break;
		}
		case 'done':
			if (typeof msg.sha256 === 'string' && t.sha256 && msg.sha256.toLowerCase() !== t.sha256) {
				t.sha256ok = false;
				this._fail(t, t.peer + ' reports a different checksum');
				return;
			}
			t.bytes = t.acked = t.size;
			t.sha256ok = true;
			this._set(t, 'done', '');
			break;
		case 'failed':
			if (msg.reason === 'checksum mismatch')
				t.sha256ok = false;
			this._fail(t, t.peer + ': ' + (typeof msg.reason === 'string' ? msg.reason.slice(0, 200) : 'failed'));
			break;
		case 'cancel':
			this._set(t, 'cancelled', 'cancelled by ' + t.peer);
			break;
		}
	}

	_dataPhase(t) {
		return t.status === 'connecting' || t.status === 'transferring';
	}

	async _p2pSend(t) {
		const link = await this.peers.link(t.peer);
		if (!this._dataPhase(t) || t.path)
			return;
		const dc = link.channel('rtft:' + t.id);
		t.dc = dc;
		t.link = link;
		const timeout = this.p2pTimeoutMs();
		t.openTimer = setTimeout(() => {
			if (t.dc !== dc || dc.readyState === 'open')
				return;
			// Nothing came through: a connection that never got up is
			// not worth keeping for the next transfer either.
			if (link.pc.connectionState !== 'connected')
				link.close('no data channel within ' + timeout + ' ms');
			this._toRelay(t, 'no direct connection within ' + Math.round(timeout / 1000) + ' s');
		}, timeout);
		const broke = (why) => {
			if (t.dc !== dc || !this._dataPhase(t) || t.path === 'relay')
				return;
			if (t.sentPos >= t.size && t.path === 'p2p') {
				// Everything went out: the receiver's done may be on its
				// way through the server. Give it a moment.
				setTimeout(() => {
					if (t.dc === dc && this._dataPhase(t))
						this._toRelay(t, why);
				}, 3000);
				return;
			}
			this._toRelay(t, why);
		};
		dc.onopen = () => {
			clearTimeout(t.openTimer);
			if (t.dc !== dc || !this._dataPhase(t))
				return;
			t.path = 'p2p';
			t.status = 'transferring';
			t.lastAckAt = t.lastProgressAt = Date.now();
			this.conn.sendOrQueue(this._tmsg(t, 'path', { path: 'p2p', offset: 0 }));
			this._changed(t);
			this._p2pPump(t, dc).catch((e) => broke('the direct connection broke (' + e.message + ')'));
		};
		dc.onclose = () => broke('the direct connection closed');
		dc.onerror = () => broke('the direct connection failed');
		const onLinkClose = (ev) => broke(ev.detail.reason);
		link.addEventListener('close', onLinkClose, { once: true });
		t.unlink = () => link.removeEventListener('close', onLinkClose);
	}

	async _p2pPump(t, dc) {
		dc.bufferedAmountLowThreshold = P2P_LOW;
		dc.onbufferedamountlow = () => t.signal.fire();
		const file = t.file;
		let pos = 0;
		let next = file.slice(0, P2P_READ).arrayBuffer();
		while (pos < t.size) {
			while (dc.readyState === 'open' && dc.bufferedAmount > P2P_HIGH - P2P_READ && t.dc === dc)
				await t.signal.wait(1000);
			if (t.dc !== dc || t.path !== 'p2p' || !this._dataPhase(t))
				return;
			if (dc.readyState !== 'open')
				throw new Error('channel ' + dc.readyState);
			let buf;
			try {
				buf = await next;
			} catch (e) {
				this._fail(t, 'the file could not be read (' + e.message + ')');
				return;
			}
			if (t.dc !== dc || t.path !== 'p2p' || !this._dataPhase(t))
				return;
			const end = pos + buf.byteLength;
			if (buf.byteLength === 0) {
				this._fail(t, 'the file could not be read (it changed?)');
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

	_relayUsable(t) {
		return this.serverRelays() && (!t.peerInfo || t.peerInfo.binaryRelay !== false);
	}

	_toRelay(t, why) {
		if (!this._dataPhase(t) || t.path === 'relay')
			return;
		clearTimeout(t.openTimer);
		this._closeChannel(t);
		if (!this._relayUsable(t)) {
			this._fail(t, why + '; the server relay is not available');
			return;
		}
		t.path = 'relay';
		t.pathNote = why;
		t.status = 'transferring';
		t.relayPos = t.acked;
		t.gen++;
		t.lastAckAt = Date.now();
		this.conn.sendOrQueue(this._tmsg(t, 'path', { path: 'relay', offset: t.acked }));
		this._changed(t);
		this._relayPump(t).catch((e) => this._fail(t, 'relay: ' + e.message));
	}

	_rewind(t) {
		t.relayPos = t.acked;
		t.gen++;
		t.lastRewindAt = Date.now();
		t.signal.fire();
	}

	// The relay window to user: how many bytes may be sent and not yet
	// acknowledged. The server drops what would pass its queue for a slow
	// receiver (max_outbound_bytes), so the window starts below that and
	// halves on every sign of a drop and grows back with the acks.
	_window(user) {
		let w = this._windows.get(user);
		if (!w)
			this._windows.set(user, w = { bytes: this._windowMax(), shrunk: 0 });
		return w;
	}

	// Half of what the server holds for one receiver (maxOutboundBytes,
	// which servers that know the transfer extension announce), and at
	// most RELAY_WINDOW.
	_windowMax() {
		const out = this.conn.server && this.conn.server.maxOutboundBytes;
		if (!out)
			return RELAY_WINDOW;
		return Math.max(RELAY_WINDOW_MIN, Math.min(RELAY_WINDOW, Math.floor(out / 2)));
	}

	_shrink(user) {
		const w = this._window(user);
		const now = Date.now();
		if (now - w.shrunk < 500)
			return; // one halving per burst of signs
		w.shrunk = now;
		w.bytes = Math.max(RELAY_WINDOW_MIN, Math.floor(w.bytes / 2));
	}

	_grow(user, acked) {
		const w = this._window(user);
		// About one chunk more per window of acknowledged bytes.
		w.bytes = Math.min(this._windowMax(), w.bytes + Math.ceil(acked * RELAY_CHUNK / w.bytes));
	}

	// Bytes sent through the relay to user and not yet acknowledged, over
	// all transfers to them (the server holds at most max_outbound_bytes
	// for one receiver).
	_unackedTo(user) {
		let n = 0;
		for (const t of this.transfers.values())
			if (t.direction === 'send' && t.peer === user && t.path === 'relay' && this._dataPhase(t))
				n += Math.max(0, t.relayPos - t.acked);
		return n;
	}

	async _relayPump(t) {
		const name = enc.encode(t.peer);
		const id = hexToBytes(t.id);
		const hlen = 2 + name.length + 16 + 8;
		const max = (this.conn.server && this.conn.server.maxMessageBytes) || 2 * MiB;
		const chunk = Math.max(1024, Math.min(RELAY_CHUNK, max - hlen));
		const head = new Uint8Array(hlen);
		head[0] = BIN_KIND_CHUNK;
		head[1] = name.length;
		head.set(name, 2);
		head.set(id, 2 + name.length);
		// The file is read RELAY_READ bytes at a time, one read ahead.
		const reader = new SliceReader(t.file, t.size, RELAY_READ);
		while (this._dataPhase(t) && t.path === 'relay') {
			if (t.relayPos >= t.size) {
				await t.signal.wait(1000);
				continue;
			}
			const now = Date.now();
			if (!this.conn.online) {
				await t.signal.wait(500);
				continue;
			}
			if (t.pauseUntil && now < t.pauseUntil) {
				await t.signal.wait(t.pauseUntil - now);
				continue;
			}
			if (this.conn.bufferedAmount > WS_HIGH || this._unackedTo(t.peer) >= this._window(t.peer).bytes) {
				await t.signal.wait(5);
				continue;
			}
			const gen = t.gen;
			const pos = t.relayPos;
			const end = Math.min(t.size, pos + chunk);
			let data;
			try {
				data = await reader.get(pos, end);
			} catch (e) {
				this._fail(t, 'the file could not be read (' + e.message + ')');
				return;
			}
			if (gen !== t.gen || !this._dataPhase(t) || t.path !== 'relay')
				continue;
			const msg = new Uint8Array(hlen + data.length);
			msg.set(head, 0);
			const dv = new DataView(msg.buffer);
			dv.setUint32(hlen - 8, Math.floor(pos / 0x100000000));
			dv.setUint32(hlen - 4, pos >>> 0);
			msg.set(data, hlen);
			if (!this.conn.sendBinary(msg))
				continue;
			t.relayPos = end;
			if (end > t.sentPos)
				t.sentPos = end;
		}
	}

	// ---- sending to an old client (v1) ----

	_v1Next(user) {
		if (this._v1Busy.has(user))
			return;
		const q = this._v1Queues.get(user) || [];
		while (q.length && !this._live(q[0]))
			q.shift();
		const t = q.shift();
		if (!t) {
			this._v1Queues.delete(user);
			return;
		}
		this._v1Busy.add(user);
		this._v1Send(t).catch((e) => this._fail(t, 'error: ' + e.message)).finally(() => {
			this._v1Busy.delete(user);
			this._v1Next(user);
		});
	}

	_v1Meta(t, mode) {
		return { type: 'FILE_METADATA', recipient: t.peer, file: { name: t.name, size: t.size, type: t.type }, transferMode: mode };
	}

	async _v1Send(t) {
		t.status = 'connecting';
		t.dataStart = t.lastProgressAt = Date.now();
		this._changed(t);
		if (this.p2pEnabled()) {
			const ok = await this._v1SendP2P(t);
			if (ok || !this._live(t))
				return;
			t.pathNote = 'no direct connection';
		}
		await this._v1SendWS(t);
	}

	// Returns true when the file went over the data channel.
	async _v1SendP2P(t) {
		this.conn.send(this._v1Meta(t, 'webrtc'));
		let link;
		try {
			link = await this.peers.legacyLink(t.peer);
		} catch {
			return false;
		}
		t.v1Link = link;
		const dc = link.channel('rtft:' + t.id);
		t.dc = dc;
		const timeout = this.p2pTimeoutMs();
		const opened = await new Promise((resolve) => {
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
				if (!this._live(t)) {
					clearTimeout(timer);
					resolve(false);
				}
			});
		});
		if (!opened || !this._live(t)) {
			this._closeChannel(t);
			t.v1Link = null;
			link.close('no data channel');
			return false;
		}
		t.path = 'p2p';
		t.status = 'transferring';
		this._changed(t);
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
			while (!closed && dc.bufferedAmount > P2P_HIGH - msgMax && this._live(t))
				await t.signal.wait(1000);
			if (!this._live(t))
				return true;
			if (closed)
				break;
			const buf = await t.file.slice(pos, Math.min(t.size, pos + msgMax)).arrayBuffer();
			if (buf.byteLength === 0) {
				this._fail(t, 'the file could not be read');
				return true;
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
		// Wait until the channel has handed everything to the network.
		while (!closed && this._live(t) && dc.bufferedAmount > 0) {
			t.bytes = Math.max(0, t.size - dc.bufferedAmount);
			await t.signal.wait(100);
		}
		if (!this._live(t))
			return true;
		if (closed) {
			// Broken before the end: start again through the server.
			this._closeChannel(t);
			t.v1Link = null;
			link.close('channel closed');
			t.path = null;
			t.bytes = 0;
			t.sentPos = 0;
			this._changed(t);
			return false;
		}
		// v1 has no acknowledgement, but SCTP completes a channel's close
		// (a stream reset) only once the other side has every message
		// sent before it: wait for that before saying "sent".
		const delivered = await new Promise((resolve) => {
			const timer = setTimeout(() => resolve(false), V1_CLOSE_WAIT_MS);
			dc.onclose = () => {
				clearTimeout(timer);
				resolve(true);
			};
			t.signal.wait().then(() => {
				if (!this._live(t)) {
					clearTimeout(timer);
					resolve(false);
				}
			});
			dc.close();
		});
		if (!this._live(t))
			return true;
		t.bytes = t.size;
		if (!delivered)
			t.pathNote = 'the data channel did not confirm the end within ' + V1_CLOSE_WAIT_MS / 1000 + ' s';
		this._set(t, 'sent', '');
		return true;
	}

	async _v1SendWS(t) {
		const max = (this.conn.server && this.conn.server.maxMessageBytes) || 2 * MiB;
		// Each byte is up to 4 characters of JSON ("255,").
		const chunk = Math.max(1024, Math.min(V1_CHUNK, Math.floor((max - 1024) / 4)));
		t.path = 'relay';
		t.status = 'transferring';
		t.v1ws = true;
		this._changed(t);
		if (!this.conn.send(this._v1Meta(t, 'websocket'))) {
			this._fail(t, 'not connected to the server');
			return;
		}
		const prefix = '{"type":"FILE_CHUNK","recipient":' + JSON.stringify(t.peer) +
			',"file":{"name":' + JSON.stringify(t.name) + ',"size":' + t.size + ',"offset":';
		let pos = 0;
		let sent = 0;
		while (pos < t.size) {
			while (this._live(t) && this.conn.online && this.conn.bufferedAmount > WS_HIGH) {
				t.bytes = Math.max(0, sent - this.conn.bufferedAmount);
				await t.signal.wait(20);
			}
			if (!this._live(t))
				return;
			if (!this.conn.online) {
				this._fail(t, 'the connection to the server was lost');
				return;
			}
			const buf = await t.file.slice(pos, Math.min(t.size, pos + chunk)).arrayBuffer();
			if (buf.byteLength === 0) {
				this._fail(t, 'the file could not be read');
				return;
			}
			const u8 = new Uint8Array(buf);
			const text = prefix + pos + ',"data":[' + u8.join(',') + ']}}';
			if (!this.conn.sendText(text)) {
				this._fail(t, 'the connection to the server was lost');
				return;
			}
			pos += u8.length;
			sent += text.length;
			t.sentPos = pos;
			t.bytes = Math.round(pos * Math.max(0, sent - this.conn.bufferedAmount) / sent);
		}
		this.conn.send({ type: 'FILE_COMPLETE', recipient: t.peer, fileName: t.name });
		while (this._live(t) && this.conn.online && this.conn.bufferedAmount > 0)
			await t.signal.wait(50);
		if (!this._live(t))
			return;
		if (!this.conn.online) {
			this._fail(t, 'the connection to the server was lost');
			return;
		}
		t.bytes = t.size;
		this._set(t, 'sent', '');
	}

	// ---- receiving (TRANSFER) ----

	_onOffer(sender, msg) {
		const f = msg.file;
		const key = 'r:' + sender + ':' + msg.id;
		if (this.transfers.has(key))
			return;
		const bad = (why) => this.conn.send({ type: 'TRANSFER', recipient: sender, id: msg.id, action: 'failed', reason: why });
		if (!f || typeof f !== 'object' || typeof f.name !== 'string' || !validSize(f.size)) {
			bad('invalid offer');
			return;
		}
		if (typeof msg.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(msg.sha256)) {
			bad('invalid offer: no sha256');
			return;
		}
		const t = this._add({
			id: msg.id, direction: 'receive', peer: sender, name: safeFileName(f.name),
			size: f.size, type: typeof f.type === 'string' ? f.type.slice(0, 100) : '',
			protocol: 'transfer', status: 'offered', path: null, bytes: 0,
			sha256: msg.sha256.toLowerCase(), sha256ok: null, reason: '',
			p2pOffered: msg.p2p === true, received: 0, dcPos: 0, lastAckSent: 0,
		});
		return t;
	}

	// The person accepted an offer. toDisk: stream to a file they pick
	// (call from the click handler, the picker needs the gesture).
	async accept(key, toDisk = false) {
		const t = this.transfers.get(key);
		if (!t || t.status !== 'offered')
			return;
		let core;
		if (toDisk && FileSink.supported()) {
			let sink;
			try {
				sink = await FileSink.create(t.name);
			} catch (e) {
				if (e && e.name === 'AbortError')
					return; // the person closed the picker: still offered
				this._notice('cannot save to disk: ' + e.message);
				return;
			}
			if (t.status !== 'offered') {
				sink.abort();
				return;
			}
			core = new MainCore(sink);
		} else {
			core = this._pool.core();
		}
		core.onKept = () => this._maybeAck(t);
		core.onError = (e) => {
			if (this._receiving(t))
				this._failReceive(t, e.message);
		};
		t.core = core;
		t.status = 'connecting';
		t.dataStart = t.lastDataAt = t.lastProgressAt = Date.now();
		this.conn.sendOrQueue(this._tmsg(t, 'accept', { p2p: this.p2pEnabled() }));
		this._changed(t);
		if (t.size === 0)
			this._finishReceive(t);
	}

	decline(key) {
		const t = this.transfers.get(key);
		if (!t || t.status !== 'offered')
			return;
		this.conn.sendOrQueue(this._tmsg(t, 'decline'));
		this._set(t, 'declined', 'you declined');
	}

	cancel(key) {
		const t = this.transfers.get(key);
		if (!t || isFinal(t))
			return;
		if (t.protocol === 'transfer' && (t.status !== 'preparing' && t.status !== 'hashing'))
			this.conn.sendOrQueue(this._tmsg(t, 'cancel', {
				reason: 'cancelled by the ' + (t.direction === 'send' ? 'sender' : 'receiver'),
			}));
		this._set(t, 'cancelled', 'you cancelled');
	}

	_onReceiveMessage(t, msg) {
		switch (msg.action) {
		case 'path':
			if (msg.path === 'relay' || msg.path === 'p2p') {
				if (msg.path === 'relay' && t.path === 'p2p')
					this._closeChannel(t);
				t.path = msg.path;
				this._changed(t);
			}
			break;
		case 'cancel':
			this._set(t, 'cancelled', 'cancelled by ' + t.peer);
			break;
		case 'failed':
			this._fail(t, t.peer + ': ' + (typeof msg.reason === 'string' ? msg.reason.slice(0, 200) : 'failed'));
			break;
		}
	}

	_receiving(t) {
		return t.status === 'connecting' || t.status === 'transferring';
	}

	_onChannel({ user, link, channel }) {
		const label = channel.label || '';
		let t = null;
		if (label.startsWith('rtft:'))
			t = this.transfers.get('r:' + user + ':' + label.slice(5));
		if (t && t.protocol === 'transfer' && this._receiving(t)) {
			this._attachChannel(t, channel);
			return;
		}
		const v1 = this._v1Recv.get(user);
		if (v1 && this._receiving(v1) && v1.mode === 'webrtc') {
			v1.link = link;
			this._attachChannel(v1, channel);
			return;
		}
		try {
			channel.close();
		} catch {
			// nothing to close
		}
	}

	_attachChannel(t, dc) {
		this._closeChannel(t);
		t.dc = dc;
		t.dcPos = 0;
		dc.binaryType = 'arraybuffer';
		if (t.path !== 'relay')
			t.path = 'p2p';
		this._changed(t);
		dc.onmessage = (ev) => {
			if (t.dc !== dc)
				return;
			if (typeof ev.data === 'string') {
				if (t.protocol === 'v1') {
					let m = null;
					try {
						m = JSON.parse(ev.data);
					} catch {
						// not for us
					}
					if (m && m.type === 'EOF')
						this._finishV1(t);
				}
				return;
			}
			const bytes = new Uint8Array(ev.data);
			const off = t.dcPos;
			t.dcPos += bytes.length;
			this._onData(t, bytes, off);
		};
		dc.onclose = () => {
			if (t.dc === dc)
				t.dc = null;
		};
	}

	_onBinary(buf) {
		const b = new Uint8Array(buf);
		if (b.length < 2 || b[0] !== BIN_KIND_CHUNK)
			return;
		const n = b[1];
		const hlen = 2 + n + 16 + 8;
		if (n < 1 || n > 32 || b.length < hlen)
			return;
		const sender = dec.decode(b.subarray(2, 2 + n));
		const id = toHex(b.subarray(2 + n, 18 + n));
		const dv = new DataView(buf, 18 + n, 8);
		const off = dv.getUint32(0) * 0x100000000 + dv.getUint32(4);
		const t = this.transfers.get('r:' + sender + ':' + id);
		if (!t || t.protocol !== 'transfer')
			return;
		if (t.path !== 'relay' && this._receiving(t)) {
			t.path = 'relay';
			this._changed(t);
		}
		this._onData(t, b.subarray(hlen), off);
	}

	// Bytes at offset off of t's file, from either path. Only what extends
	// the bytes kept so far is used: earlier bytes are repeats (a resend
	// from the last ack), later ones follow a gap and are dropped (the
	// sender sends them again).
	_onData(t, bytes, off) {
		if (!this._receiving(t) || !t.core)
			return;
		const now = Date.now();
		t.lastDataAt = now;
		if (t.status === 'connecting') {
			t.status = 'transferring';
			this._changed(t);
		}
		if (off > t.received) {
			if (t.protocol === 'transfer' && now - (t.lastGapAck || 0) > 1000) {
				t.lastGapAck = now;
				this.conn.send(this._tmsg(t, 'ack', { offset: t.core.kept, gap: true }));
			}
			return;
		}
		const end = off + bytes.length;
		if (end <= t.received)
			return;
		const piece = off < t.received ? bytes.subarray(t.received - off) : bytes;
		if (t.received + piece.length > t.size) {
			this._failReceive(t, 'more data than announced');
			return;
		}
		t.received += piece.length;
		t.core.write(piece); // piece's buffer is the core's from now on
		t.bytes = t.received;
		t.lastProgressAt = now;
		if (t.protocol === 'transfer') {
			this._maybeAck(t);
			if (t.received === t.size)
				this._finishReceive(t);
		}
	}

	_maybeAck(t) {
		if (t.protocol !== 'transfer' || !this._receiving(t) || !t.core)
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
		clearTimeout(t.ackTimer);
		t.ackTimer = 0;
		if (!t.core || t.core.kept <= t.lastAckSent)
			return;
		if (this.conn.send(this._tmsg(t, 'ack', { offset: t.core.kept })))
			t.lastAckSent = t.core.kept;
	}

	_failReceive(t, reason) {
		this.conn.sendOrQueue(this._tmsg(t, 'failed', { reason }));
		this._fail(t, reason);
	}

	async _finishReceive(t) {
		if (t.verifying)
			return;
		t.verifying = true;
		const core = t.core;
		let digest, blob;
		try {
			({ sha256: digest, blob } = await core.finish());
		} catch (e) {
			if (this._receiving(t))
				this._failReceive(t, 'could not store the file (' + (e && e.message) + ')');
			return;
		}
		if (!this._receiving(t))
			return;
		if (digest !== t.sha256) {
			t.sha256ok = false;
			this._failReceive(t, 'checksum mismatch');
			return;
		}
		this._sendAck(t);
		t.sha256ok = true;
		this.conn.sendOrQueue(this._tmsg(t, 'done', { sha256: digest }));
		this._complete(t, blob);
	}

	_complete(t, blob) {
		if (blob) {
			t.blob = blob;
			t.url = URL.createObjectURL(blob);
			t.blobSize = blob.size;
		} else if (t.core && t.core.kind === 'file') {
			t.savedAs = t.core.sink.fileName;
		}
		t.bytes = t.size;
		this._set(t, 'done', '');
	}

	// ---- receiving from an old client (v1) ----

	_onFileMetadata(msg) {
		const sender = msg.sender;
		const f = msg.file;
		if (!plausibleName(sender) || !f || typeof f !== 'object' || !validSize(f.size))
			return;
		const name = safeFileName(f.name);
		const mode = msg.transferMode === 'webrtc' ? 'webrtc' : 'websocket';
		let t = this._v1Recv.get(sender);
		if (t && this._receiving(t) && t.name === name && t.size === f.size && t.received < t.size) {
			// The same file again (a sender that moved from webrtc to
			// websocket): start over.
			this._closeChannel(t);
			if (t.core)
				t.core.abort();
			t.core = this._v1Core(t);
			t.received = 0;
			t.bytes = 0;
		} else {
			if (t && this._receiving(t))
				this._fail(t, 'interrupted by another file from ' + sender);
			t = this._add({
				id: 'v1-' + randomId().slice(0, 16), direction: 'receive', peer: sender, name,
				size: f.size, type: '', protocol: 'v1', status: 'connecting', path: null, bytes: 0,
				sha256: null, sha256ok: null, reason: '', received: 0, dcPos: 0, lastAckSent: 0,
			});
			t.core = this._v1Core(t);
			this._v1Recv.set(sender, t);
		}
		t.mode = mode;
		t.path = mode === 'webrtc' ? null : 'relay';
		t.dataStart = t.lastDataAt = t.lastProgressAt = Date.now();
		if (mode === 'webrtc' && !this.p2pEnabled())
			this._fail(t, sender + ' wants a direct connection, which is off on this page');
		this._changed(t);
	}

	_v1Core(t) {
		const core = this._pool.core();
		core.onError = (e) => {
			if (this._receiving(t) && t.core === core)
				this._fail(t, e.message);
		};
		return core;
	}

	_onFileChunk(msg) {
		const t = this._v1Recv.get(msg.sender);
		const f = msg.file;
		if (!t || !this._receiving(t) || !f || !Array.isArray(f.data) || !validSize(f.offset))
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
		this._onData(t, bytes, f.offset);
	}

	_onFileComplete(msg) {
		const t = this._v1Recv.get(msg.sender);
		if (t && this._receiving(t))
			this._finishV1(t);
	}

	async _finishV1(t) {
		if (t.received !== t.size) {
			this._fail(t, 'incomplete: ' + t.received + ' of ' + t.size + ' bytes arrived');
			return;
		}
		if (t.verifying)
			return;
		t.verifying = true;
		let r;
		try {
			r = await t.core.finish();
		} catch (e) {
			if (this._receiving(t))
				this._fail(t, 'could not store the file (' + (e && e.message) + ')');
			return;
		}
		if (!this._receiving(t))
			return;
		t.sha256 = r.sha256;
		this._complete(t, r.blob);
		const link = t.link;
		if (link)
			setTimeout(() => link.close('file received'), 2000);
	}

	// ---- messages from the server ----

	onMessage(msg) {
		switch (msg.type) {
		case 'TRANSFER': {
			const sender = msg.sender;
			if (!plausibleName(sender) || typeof msg.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(msg.id))
				return;
			if (msg.action === 'offer') {
				this._onOffer(sender, msg);
				return;
			}
			const s = this.transfers.get('s:' + sender + ':' + msg.id);
			if (s && !isFinal(s)) {
				this._onSendMessage(s, msg);
				return;
			}
			const r = this.transfers.get('r:' + sender + ':' + msg.id);
			if (r && !isFinal(r))
				this._onReceiveMessage(r, msg);
			return;
		}
		case 'PEER_INFO':
			if (typeof msg.user === 'string')
				this._onPeerInfo(msg);
			return;
		case 'FILE_METADATA':
			this._onFileMetadata(msg);
			return;
		case 'FILE_CHUNK':
			this._onFileChunk(msg);
			return;
		case 'FILE_COMPLETE':
			this._onFileComplete(msg);
			return;
		case 'ERROR':
			this._onError(typeof msg.message === 'string' ? msg.message : '',
				typeof msg.code === 'string' ? msg.code : '', typeof msg.user === 'string' ? msg.user : '');
			return;
		}
	}

	onBinary(buf) {
		this._onBinary(buf);
	}

	// What an ERROR is about: servers that know this page's extensions say
	// it with a code and the user concerned (docs/protocol.md); older ones
	// only in English, which is matched as a fallback.
	_errorKind(text, code, who) {
		const coded = ['not_online', 'slow_recipient', 'no_binary_relay', 'no_transfer'];
		if (code && who && coded.includes(code))
			return { kind: code, user: who };
		const forms = [
			[/^(\S+) is not online$/, 'not_online'],
			[/^(\S+) is not keeping up/, 'slow_recipient'],
			[/^(\S+) does not accept binary relay/, 'no_binary_relay'],
			[/^(\S+) does not understand TRANSFER messages/, 'no_transfer'],
		];
		for (const [re, kind] of forms) {
			const m = re.exec(text);
			if (m)
				return { kind, user: m[1] };
		}
		if (/unknown message type "PEER_INFO"/.test(text))
			return { kind: 'no_peer_info', user: null };
		if (/unknown message type "TRANSFER"/.test(text))
			return { kind: 'no_transfer_server', user: null };
		return { kind: null, user: null };
	}

	// Returns true when the error was about a transfer (and is shown there).
	_onError(text, code, who) {
		const { kind, user } = this._errorKind(text, code, who);
		if (kind === 'no_peer_info') {
			this._peerInfoUnsupported();
			return true;
		}
		if (kind === 'not_online') {
			let hit = false;
			for (const t of this.transfers.values()) {
				if (t.peer !== user || isFinal(t))
					continue;
				hit = true;
				if (!this._goneSince.has(user))
					this._goneSince.set(user, Date.now());
				// Before any byte moved there is nothing to wait for.
				if (t.status === 'waiting' || t.status === 'offered' || t.protocol === 'v1')
					this._fail(t, user + ' is not online');
			}
			return this._noticeUnless(hit, text);
		}
		if (kind === 'slow_recipient') {
			// Let the server's queue for them drain a little.
			const pause = 300;
			let hit = false;
			for (const t of this.transfers.values()) {
				if (t.peer !== user || isFinal(t) || t.direction !== 'send')
					continue;
				hit = true;
				if (t.protocol === 'v1' && t.v1ws) {
					this._fail(t, user + ' was not keeping up: the file did not arrive whole, send it again later');
				} else if (t.path === 'relay') {
					this._shrink(user);
					t.pauseUntil = Date.now() + pause;
					this._rewind(t);
				}
			}
			return this._noticeUnless(hit, text);
		}
		if (kind === 'no_binary_relay') {
			let hit = false;
			for (const t of this.transfers.values())
				if (t.peer === user && t.direction === 'send' && t.path === 'relay' && !isFinal(t)) {
					hit = true;
					this._fail(t, user + ' does not accept data through the server');
				}
			return this._noticeUnless(hit, text);
		}
		if (kind === 'no_transfer') {
			let hit = false;
			for (const t of this.transfers.values())
				if (t.peer === user && t.protocol === 'transfer' && !isFinal(t)) {
					hit = true;
					this._fail(t, user + "'s client does not understand this page's transfers");
				}
			return this._noticeUnless(hit, text);
		}
		if (kind === 'no_transfer_server') {
			for (const t of this.transfers.values())
				if (t.protocol === 'transfer' && !isFinal(t))
					this._fail(t, 'the server does not relay this page\'s transfers');
			return true;
		}
		this._notice(text);
		return false;
	}

	_noticeUnless(hit, text) {
		if (!hit)
			this._notice(text);
		return hit;
	}

	// The list of online people changed.
	onUsers(users) {
		if (!this.conn.online)
			return; // an empty list while we are away says nothing
		const now = Date.now();
		for (const t of this.transfers.values()) {
			if (isFinal(t))
				continue;
			if (users.has(t.peer))
				this._goneSince.delete(t.peer);
			else if (!this._goneSince.has(t.peer))
				this._goneSince.set(t.peer, now);
		}
		for (const u of [...this._goneSince.keys()])
			if (users.has(u))
				this._goneSince.delete(u);
	}

	_onRegistered() {
		this._selfOfflineSince = 0;
		// Whatever was in flight through the server may be lost: resend
		// from the receivers' acks.
		for (const t of this.transfers.values())
			if (t.direction === 'send' && t.path === 'relay' && this._dataPhase(t) && t.protocol === 'transfer')
				this._rewind(t);
	}

	_onConnState(state) {
		if (state === 'online') {
			this._selfOfflineSince = 0;
			return;
		}
		if (state === 'offline') {
			for (const t of this.transfers.values())
				if (!isFinal(t))
					this._fail(t, 'disconnected from the server');
			this.peers.closeAll('disconnected');
			return;
		}
		if (!this._selfOfflineSince)
			this._selfOfflineSince = Date.now();
	}

	// ---- the clock: speed, stalls, time-outs ----

	_tick() {
		const now = Date.now();
		for (const t of this.transfers.values()) {
			if (isFinal(t))
				continue;
			this._sample(t, now);
			if (this._selfOfflineSince && now - this._selfOfflineSince > SELF_OFFLINE_MS) {
				this._fail(t, 'the connection to the server was lost');
				continue;
			}
			const gone = this._goneSince.get(t.peer);
			if (gone && now - gone > PEER_GONE_MS) {
				this._fail(t, t.peer + ' went offline');
				continue;
			}
			if (t.direction === 'send' && t.protocol === 'transfer' && this._dataPhase(t) && this.conn.online) {
				if (t.path === 'p2p' && t.sentPos > t.acked && now - t.lastAckAt > P2P_STALL_MS)
					this._toRelay(t, 'the direct connection stalled');
				else if (t.path === 'relay' && t.relayPos > t.acked && now - t.lastAckAt > RELAY_STALL_MS &&
					 now - (t.lastRewindAt || 0) > RELAY_STALL_MS) {
					this._shrink(t.peer);
					this._rewind(t);
				}
			}
			const moving = this._dataPhase(t) && t.protocol === 'transfer';
			if (moving && t.lastProgressAt && now - t.lastProgressAt > NO_PROGRESS_MS && this.conn.online) {
				if (t.direction === 'receive')
					this._failReceive(t, 'no data for ' + NO_PROGRESS_MS / 1000 + ' s');
				else {
					this.conn.sendOrQueue(this._tmsg(t, 'failed', { reason: 'no progress for ' + NO_PROGRESS_MS / 1000 + ' s' }));
					this._fail(t, 'no progress for ' + NO_PROGRESS_MS / 1000 + ' s');
				}
				continue;
			}
			this._changed(t);
		}
	}

	// Speed over the last few seconds.
	_sample(t, now) {
		const bytes = t.status === 'hashing' ? t.hashed : t.bytes;
		const s = t.samples;
		if (s.length && s[s.length - 1][2] !== t.status)
			s.length = 0;
		s.push([now, bytes, t.status]);
		while (s.length > 2 && now - s[0][0] > 4000)
			s.shift();
		if (s.length >= 2 && now - s[0][0] >= 500)
			t.speed = Math.max(0, (bytes - s[0][1]) / ((now - s[0][0]) / 1000));
		else
			t.speed = 0;
	}

	// The SHA-256 (hex) of a received file as the page holds it, or null
	// (for tests: fetch() of the blob: URL is refused by the page's
	// Content-Security-Policy, connect-src).
	async receivedSha256(id) {
		for (const t of this.transfers.values())
			if (t.direction === 'receive' && t.id === id && t.blob)
				return hashFile(t.blob, null, null, { stream: true });
		return null;
	}

	// Read-only view for the page's test hook.
	snapshot() {
		return this.order.map((k) => this.transfers.get(k)).filter(Boolean).map((t) => ({
			id: t.id,
			direction: t.direction,
			peer: t.peer,
			name: t.name,
			size: t.size,
			status: t.status,
			path: t.path,
			bytes: t.bytes,
			sha256ok: t.sha256ok,
			protocol: t.protocol,
			reason: t.reason || '',
			pathNote: t.pathNote || '',
			url: t.url || null,
		}));
	}
}
