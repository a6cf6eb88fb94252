// conn.js: the WebSocket to rtftd. Announces capabilities, claims the
// name, keeps the connection alive (PING every 25 s), reconnects by itself
// with back-off after a drop and claims the name again.
//
// Sign-in (docs/protocol.md, "Sign-in with a token"): with opts.token,
// every socket (reconnects too) offers the subprotocols "rtft" and
// "rtft.token.<token>". A browser never sees why an upgrade failed, so
// when a socket closes before it opened, opts.explainFailure() is asked
// (it looks at GET /api/info): 'outage' retries with back-off as before;
// 'signin' (a refused token that might yet pass: a key set being fetched)
// retries a few times, then gives up like 'signin-final', which goes
// offline at once with a signin event. Close code 4001 (the token
// expired during the session) goes offline with a signin event too: a
// dead token is never retried.
//
// Events (all CustomEvent, detail as noted):
//   state       {state, name, retryAt, note}  the connection state changed
//   message     the parsed server message (any type)
//   binary      ArrayBuffer                  a binary relay message
//   registered  {name}                        USERNAME_SET for this connection
//   nameerror   {message}                     a claim the user made was refused
//   signin      {reason}                      'missing' (the server wants a token and
//                                             got none), 'refused' or 'expired' (4001)

const PING_MS = 25000;
const OPEN_TIMEOUT_MS = 10000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
// A re-claim after a reconnect may find the old connection still holding
// the name on the server until it notices the drop; retry this many times.
const TAKEN_RETRIES = 6;
const QUEUE_MAX = 500;
// Tries of a refused token before giving up (back-off 0.5 to 4 s: longer
// than the 5 s in which the server fetches a rotated key set again).
const SIGNIN_RETRIES = 4;
export const CLOSE_TOKEN_EXPIRED = 4001;

// States: 'offline' (no connection wanted or possible), 'connecting'
// (socket opening or name being claimed), 'online', 'reconnecting'
// (waiting retryAt before the next attempt).
export class Connection extends EventTarget {
	constructor(url, capabilities, opts = {}) {
		super();
		this.url = url;
		this.capabilities = capabilities;
		this.token = opts.token || '';
		this._explainFailure = opts.explainFailure || null;
		this._signinRetries = 0;
		this._epoch = 0;         // bumped when a socket is opened or closed on purpose
		this.state = 'offline';
		this.name = '';        // the name the server confirmed for us
		this.wanted = '';      // the name to claim
		this.retryAt = 0;
		this.note = '';        // why we are reconnecting or offline
		this.server = null;    // the server's CAPABILITIES answer
		this._ws = null;
		this._attempt = 0;
		this._takenRetries = 0;
		this._retryTimer = 0;
		this._pingTimer = 0;
		this._openTimer = 0;
		this._userClaim = false; // the pending claim was typed by the person
		this._wasOnline = false; // this name was held by this page before
		this._queue = [];        // messages to send once registered again
		addEventListener('online', () => {
			if (this.state === 'reconnecting')
				this._reconnectNow();
		});
	}

	get online() {
		return this.state === 'online';
	}

	// Bytes the browser still holds for the socket.
	get bufferedAmount() {
		return this._ws ? this._ws.bufferedAmount : 0;
	}

	// Claims name: on the open socket when there is one, else opens one.
	connect(name) {
		const renaming = this.state === 'online' && this._ws && name !== this.name;
		this.wanted = name;
		this._userClaim = true;
		this._takenRetries = 0;
		this._signinRetries = 0;
		if (renaming) {
			this._sendRaw({ type: 'SET_USERNAME', username: name });
			return;
		}
		if (this.state === 'online' && name === this.name)
			return;
		this._wasOnline = false;
		this._attempt = 0;
		this._open();
	}

	// Closes the connection and stays offline.
	disconnect(note = '') {
		this.wanted = '';
		this._wasOnline = false;
		this._queue = [];
		this._close(1000);
		this._setState('offline', note);
	}

	// Sends a JSON message now; false when the socket is not open and
	// registered (nothing is queued).
	send(obj) {
		if (this.state !== 'online')
			return false;
		return this._sendRaw(obj);
	}

	// Sends now, or after the name has been claimed again when the
	// connection is down (for messages that must not be lost, such as a
	// transfer's answer or its end).
	sendOrQueue(obj) {
		if (this.state === 'online' && this._sendRaw(obj))
			return true;
		if (this._queue.length < QUEUE_MAX)
			this._queue.push(obj);
		return false;
	}

	// Sends a JSON text built by the caller (large FILE_CHUNKs).
	sendText(text) {
		if (this.state !== 'online' || !this._ws || this._ws.readyState !== WebSocket.OPEN)
			return false;
		this._ws.send(text);
		return true;
	}

	sendBinary(buf) {
		if (this.state !== 'online' || !this._ws || this._ws.readyState !== WebSocket.OPEN)
			return false;
		this._ws.send(buf);
		return true;
	}

	_sendRaw(obj) {
		const ws = this._ws;
		if (!ws || ws.readyState !== WebSocket.OPEN)
			return false;
		ws.send(JSON.stringify(obj));
		return true;
	}

	_setState(state, note = '') {
		this.state = state;
		this.note = note;
		if (state !== 'reconnecting')
			this.retryAt = 0;
		this.dispatchEvent(new CustomEvent('state', {
			detail: { state, name: this.name, retryAt: this.retryAt, note },
		}));
	}

	_open() {
		this._close(1000);
		clearTimeout(this._retryTimer);
		this.name = '';
		this.server = null;
		this._setState('connecting');
		let ws;
		try {
			ws = this.token ? new WebSocket(this.url, ['rtft', 'rtft.token.' + this.token]) : new WebSocket(this.url);
		} catch (e) {
			// the message may quote the protocols: never show the token
			const why = String(e && e.message).split(this.token || '\0').join('(token)');
			this._setState('offline', 'cannot open ' + this.url + ': ' + why);
			return;
		}
		ws.binaryType = 'arraybuffer';
		this._ws = ws;
		let opened = false;
		this._openTimer = setTimeout(() => {
			if (this._ws === ws && ws.readyState === WebSocket.CONNECTING)
				ws.close();
		}, OPEN_TIMEOUT_MS);
		ws.onopen = () => {
			if (this._ws !== ws)
				return;
			clearTimeout(this._openTimer);
			opened = true;
			this._signinRetries = 0;
			this._sendRaw(Object.assign({ type: 'CAPABILITIES' }, this.capabilities));
			this._sendRaw({ type: 'SET_USERNAME', username: this.wanted });
			this._pingTimer = setInterval(() => this._sendRaw({ type: 'PING' }), PING_MS);
		};
		ws.onmessage = (ev) => {
			if (this._ws !== ws)
				return;
			if (typeof ev.data !== 'string') {
				this.dispatchEvent(new CustomEvent('binary', { detail: ev.data }));
				return;
			}
			let msg;
			try {
				msg = JSON.parse(ev.data);
			} catch {
				return;
			}
			if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string')
				return;
			this._onMessage(msg);
		};
		ws.onclose = (ev) => {
			if (this._ws !== ws)
				return;
			this._ws = null;
			clearTimeout(this._openTimer);
			clearInterval(this._pingTimer);
			this._onDrop(ev.code, ev.reason, opened);
		};
	}

	_close(code) {
		this._epoch++;
		const ws = this._ws;
		this._ws = null;
		clearTimeout(this._openTimer);
		clearInterval(this._pingTimer);
		clearTimeout(this._retryTimer);
		if (ws) {
			ws.onopen = ws.onmessage = ws.onclose = null;
			try {
				ws.close(code);
			} catch {
				// already closing
			}
		}
	}

	_onMessage(msg) {
		switch (msg.type) {
		case 'CAPABILITIES':
			this.server = msg;
			break;
		case 'USERNAME_SET':
			if (typeof msg.username === 'string') {
				this.name = msg.username;
				this.wanted = msg.username;
				this._attempt = 0;
				this._takenRetries = 0;
				this._userClaim = false;
				this._wasOnline = true;
				this._setState('online');
				this.dispatchEvent(new CustomEvent('registered', { detail: { name: this.name } }));
				const q = this._queue;
				this._queue = [];
				for (const m of q)
					this._sendRaw(m);
			}
			break;
		case 'USERNAME_ERROR':
			this._onNameError(typeof msg.message === 'string' ? msg.message : 'name refused');
			break;
		}
		this.dispatchEvent(new CustomEvent('message', { detail: msg }));
	}

	_onNameError(message) {
		if (this.state === 'online') {
			// A rename was refused; the old name is still ours.
			this.wanted = this.name;
			this._userClaim = false;
			this.dispatchEvent(new CustomEvent('nameerror', { detail: { message } }));
			return;
		}
		const retryable = message === 'The server is full, try again later' ||
			(message === 'Username already taken' && this._wasOnline && !this._userClaim &&
			 this._takenRetries++ < TAKEN_RETRIES);
		if (retryable) {
			// Our previous connection may still hold the name: try again.
			this._close(1000);
			this._scheduleRetry(message);
			return;
		}
		this._close(1000);
		this._wasOnline = false;
		this._queue = [];
		this._setState('offline', message);
		this.dispatchEvent(new CustomEvent('nameerror', { detail: { message } }));
	}

	_onDrop(code, reason, opened) {
		if (!this.wanted) {
			this._setState('offline');
			return;
		}
		if (code === CLOSE_TOKEN_EXPIRED) {
			this._signinEnded('expired');
			return;
		}
		if (!opened && this._explainFailure) {
			this._explain();
			return;
		}
		if (!this._wasOnline && this._userClaim && code === 1008) {
			this._setState('offline', reason || 'the server closed the connection');
			return;
		}
		this.name = '';
		// 1012: the worker was retired by a reload; come back at once.
		if (code === 1012)
			this._attempt = 0;
		this._scheduleRetry(code === 1012 ? 'server restarting' : 'connection lost', code === 1012);
	}

	// The socket failed before it opened: a refused sign-in or an outage?
	_explain() {
		const epoch = this._epoch;
		this.name = '';
		Promise.resolve()
			.then(() => this._explainFailure())
			.catch(() => 'outage')
			.then((why) => {
				if (epoch !== this._epoch || !this.wanted || this._ws)
					return;
				if (why === 'signin' && this._signinRetries < SIGNIN_RETRIES) {
					this._signinRetries++;
					this._scheduleRetry('sign-in refused');
				} else if (why === 'signin' || why === 'signin-final') {
					this._signinEnded(this.token ? 'refused' : 'missing');
				} else {
					this._scheduleRetry('connection lost');
				}
			});
	}

	// Sign-in refused or over: offline, no retry with this token.
	_signinEnded(reason) {
		this._close(1000);
		this.name = '';
		this._signinRetries = 0;
		this._wasOnline = false;
		this._queue = [];
		this._setState('offline', reason === 'expired' ? 'sign-in expired' : 'sign-in refused');
		this.dispatchEvent(new CustomEvent('signin', { detail: { reason } }));
	}

	_scheduleRetry(note, soon = false) {
		clearTimeout(this._retryTimer);
		const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, this._attempt));
		this._attempt++;
		// Jitter: between 75% and 125% of the step, so that many pages
		// dropped together do not come back together.
		const delay = soon ? Math.random() * 250 : base * (0.75 + Math.random() * 0.5);
		this.retryAt = Date.now() + delay;
		this._retryTimer = setTimeout(() => this._open(), delay);
		this.state = 'reconnecting';
		this.note = note;
		this.dispatchEvent(new CustomEvent('state', {
			detail: { state: 'reconnecting', name: this.wanted, retryAt: this.retryAt, note },
		}));
	}

	_reconnectNow() {
		clearTimeout(this._retryTimer);
		this._open();
	}

	// Reconnects at once when waiting to reconnect (a person asked).
	retryNow() {
		if (this.state === 'reconnecting')
			this._reconnectNow();
	}
}
