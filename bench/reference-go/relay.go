package main

// One connection: a reader goroutine (parses, answers, relays) and a writer
// goroutine (the only one that writes messages), joined by a buffered
// channel. A relayed message is the sender's bytes, rewritten in place in
// the buffer they were read into and handed to the recipient's writer:
// nothing is parsed into a tree or encoded again.

import (
	"encoding/json"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	queueLen    = 256 // messages waiting for one writer
	headRoom    = 64  // before a message: room for {"sender":"NAME",
	tailRoom    = 32  // after: room for ,"transferMode":"websocket"
	noticeEvery = 5 * time.Second
	nameMax     = 32
)

var relayTypes = map[string]bool{
	"WEBRTC_OFFER": true, "WEBRTC_ANSWER": true, "WEBRTC_ICE_CANDIDATE": true,
	"FILE_METADATA": true, "FILE_CHUNK": true, "FILE_COMPLETE": true, "TRANSFER": true,
}

// Buffers by power-of-two size, shared by every connection: a reader takes
// one, the recipient's writer gives it back once written.
var pools [28]sync.Pool

type buf struct {
	b []byte
}

func getBuf(n int) *buf {
	k := bits.Len(uint(n - 1))
	if k < 9 {
		k = 9
	}
	if k >= len(pools) {
		return &buf{b: make([]byte, n)}
	}
	if x := pools[k].Get(); x != nil {
		return x.(*buf)
	}
	return &buf{b: make([]byte, 1<<k)}
}

func putBuf(x *buf) {
	k := bits.Len(uint(len(x.b) - 1))
	if len(x.b) == 1<<k && k < len(pools) {
		pools[k].Put(x)
	}
}

// What a writer sends: data (a slice of owner, which it gives back after,
// if not nil).
type outMsg struct {
	kind  int
	data  []byte
	owner *buf
}

type server struct {
	mu         sync.RWMutex
	users      map[string]*client
	maxMessage int
	validate   bool
	useJSON    bool
}

type client struct {
	srv    *server
	ws     *websocket.Conn
	bc     *bufConn
	out    chan outMsg
	dead   chan struct{} // closed by whichever of reader and writer ends first
	once   sync.Once
	name   string      // reader goroutine only (and the map, under srv.mu)
	binary atomic.Bool // CAPABILITIES binaryRelay
	xfer   atomic.Bool // CAPABILITIES transfer 1
	hint   int         // size of the last message read: the next buffer
	notice map[string]time.Time
}

func (s *server) serve(ws *websocket.Conn, bc *bufConn) {
	c := &client{srv: s, ws: ws, bc: bc, out: make(chan outMsg, queueLen), dead: make(chan struct{}),
		hint: 4096, notice: map[string]time.Time{}}
	ws.SetReadLimit(int64(s.maxMessage))
	// control frames go out at once, not when the writer next flushes
	ws.SetPingHandler(func(data string) error {
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err == nil {
			err = bc.flush()
		}
		return err
	})
	ws.SetCloseHandler(func(code int, text string) error {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		bc.flush()
		return nil
	})
	go c.writer()
	c.reader()
}

// writer: one message after another, one flush when nothing more waits.
func (c *client) writer() {
	defer c.ws.Close()
	defer c.kill()
	for {
		var m outMsg
		// a select of one case and a default is much cheaper than one of
		// two: try that first
		select {
		case m = <-c.out:
		default:
			select {
			case m = <-c.out:
			case <-c.dead:
				return
			}
		}
		for {
			err := c.ws.WriteMessage(m.kind, m.data)
			if m.owner != nil {
				putBuf(m.owner)
			}
			if err != nil {
				return
			}
			if len(c.out) == 0 {
				break
			}
			m = <-c.out
		}
		if c.bc.flush() != nil {
			return
		}
	}
}

// send queues m for c; false when c is gone.
func (c *client) send(m outMsg) bool {
	select {
	case c.out <- m:
		return true
	default:
	}
	select {
	case c.out <- m:
		return true
	case <-c.dead:
		return false
	}
}

func (c *client) kill() {
	c.once.Do(func() { close(c.dead) })
}

func (c *client) sendJSON(v interface{}) {
	b, err := json.Marshal(v)
	if err == nil {
		c.send(outMsg{kind: websocket.TextMessage, data: b})
	}
}

type errorMsg struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (c *client) sendError(msg string) {
	c.sendJSON(errorMsg{"ERROR", msg})
}

// notify: an error about a recipient, at most once per name every
// noticeEvery (a burst of chunks to an absent user gives one).
func (c *client) notify(name, msg string) {
	now := time.Now()
	if t, ok := c.notice[name]; ok && now.Sub(t) < noticeEvery {
		return
	}
	if len(c.notice) > 1000 {
		c.notice = map[string]time.Time{}
	}
	c.notice[name] = now
	c.sendError(msg)
}

func (c *client) reader() {
	defer c.leave()
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		b, n, err := c.read(r)
		if err != nil {
			// over the read limit: gorilla has sent 1009
			return
		}
		if kind == websocket.BinaryMessage {
			c.binaryMsg(b, n)
		} else {
			c.textMsg(b, n)
		}
	}
}

// read takes the whole message into a pooled buffer at headRoom, with
// tailRoom spare; the buffer is sized from the last message, so a run of
// file chunks reads each in one go.
func (c *client) read(r io.Reader) (*buf, int, error) {
	b := getBuf(headRoom + c.hint + tailRoom + 1)
	n := headRoom
	for {
		if n == len(b.b)-tailRoom {
			nb := getBuf(2 * len(b.b))
			copy(nb.b, b.b[:n])
			putBuf(b)
			b = nb
		}
		m, err := r.Read(b.b[n : len(b.b)-tailRoom])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			putBuf(b)
			return nil, 0, err
		}
	}
	c.hint = n - headRoom
	return b, n, nil
}

func (c *client) textMsg(b *buf, n int) {
	msg := b.b[headRoom:n]
	var r scanResult
	var e scanErr
	if c.srv.useJSON {
		r, e = parseJSON(msg)
	} else {
		r, e = scanMessage(msg, c.srv.validate)
	}
	if e != scanOK || !r.object || r.typ.count != 1 || !r.typ.str {
		putBuf(b)
		switch {
		case e == scanDepth:
			c.sendError("message nested deeper than 32 levels")
		case e != scanOK:
			c.sendError("Invalid message format")
		case !r.object:
			c.sendError("message must be a JSON object")
		case r.typ.count > 1:
			c.sendError(`duplicate "type"`)
		default:
			c.sendError(`message has no "type" string`)
		}
		return
	}
	var typ string
	if r.typ.esc {
		typ = r.typ.value()
	} else if relayTypes[string(r.typ.raw)] {
		// the hot path: no string made for the type
		c.relay(b, n, &r)
		return
	} else {
		typ = string(r.typ.raw)
	}
	if relayTypes[typ] {
		c.relay(b, n, &r)
		return
	}
	switch typ {
	case "PING":
		c.send(outMsg{kind: websocket.TextMessage, data: []byte(`{"type":"PONG"}`)})
	case "GET_USERS":
		c.srv.mu.RLock()
		l := c.srv.list(c.name)
		c.srv.mu.RUnlock()
		c.sendJSON(userList{"USER_LIST", l})
	case "SET_USERNAME":
		c.setUsername(msg)
	case "CAPABILITIES":
		c.capabilities(msg)
	default:
		c.sendError(`unknown message type "` + strings.ToValidUTF8(typ, "?") + `"`)
	}
	putBuf(b)
}

// relay rewrites the message in place to {"sender":"NAME", + the client's
// members less the recipient member and one comma next to it (+ a
// transferMode for a FILE_METADATA without one) and queues it.
func (c *client) relay(b *buf, n int, r *scanResult) {
	fail := func(msg string) {
		putBuf(b)
		c.sendError(msg)
	}
	switch {
	case r.sender > 0:
		fail(`"sender" is set by the server`)
		return
	case r.rec.count > 1:
		fail(`duplicate "recipient"`)
		return
	case r.rec.count == 0 || !r.rec.str:
		fail(`"recipient" must be a string`)
		return
	case c.name == "":
		fail("Set a username before sending messages")
		return
	}
	var dst *client
	c.srv.mu.RLock()
	if r.rec.esc {
		dst = c.srv.users[r.rec.value()]
	} else {
		dst = c.srv.users[string(r.rec.raw)]
	}
	c.srv.mu.RUnlock()
	typ := r.typ.raw
	if r.typ.esc {
		typ = []byte(r.typ.value())
	}
	if dst == nil {
		putBuf(b)
		to := r.rec.value()
		c.notify(to, to+" is not online")
		return
	}
	if string(typ) == "TRANSFER" && !dst.xfer.Load() {
		putBuf(b)
		to := r.rec.value()
		c.notify(to, to+" does not understand TRANSFER messages")
		return
	}
	start, end := rewrite(b.b, headRoom, r, string(typ) == "FILE_METADATA" && r.mode == 0, c.name)
	if !dst.send(outMsg{kind: websocket.TextMessage, data: b.b[start:end], owner: b}) {
		putBuf(b)
	}
}

// rewrite turns the message scanned as r, at buf[at:], into the relayed
// one in place: {"sender":"NAME", + the client's members less the
// recipient member and one comma next to it (the one before it, else the
// one after), + "transferMode":"websocket" when addMode; the result is
// buf[start:end]. Needs headRoom bytes before at and tailRoom after the
// message.
func rewrite(buf []byte, at int, r *scanResult, addMode bool, name string) (start, end int) {
	h := at
	open, close := h+r.open, h+r.close
	cutFrom, cutTo := h+r.recKey, h+r.recEnd
	if r.commaBefore >= 0 {
		cutFrom = h + r.commaBefore
	} else if r.commaAfter >= 0 {
		cutTo = h + r.commaAfter + 1
	}
	others := r.members > 1
	// the members before the cut move up against those after it
	start = cutTo - (cutFrom - (open + 1))
	copy(buf[start:cutTo], buf[open+1:cutFrom])
	end = close
	if addMode {
		if others {
			buf[end] = ','
			end++
		}
		end += copy(buf[end:], `"transferMode":"websocket"`)
	}
	buf[end] = '}'
	end++
	if others || addMode {
		start--
		buf[start] = ','
	}
	start -= len(name) + 12
	copy(buf[start:], `{"sender":"`)
	copy(buf[start+11:], name)
	buf[start+11+len(name)] = '"'
	return start, end
}

// binaryMsg: kind 1, name length, the recipient's name, 16 bytes of
// transfer id, 8 of offset, data; forwarded with the sender's name.
func (c *client) binaryMsg(b *buf, n int) {
	p := b.b[headRoom:n]
	fail := func(msg string) {
		putBuf(b)
		c.sendError(msg)
	}
	switch {
	case len(p) < 2:
		fail("binary message: shorter than its header (" + itoa(len(p)) + " bytes)")
		return
	case p[0] != 1:
		fail("binary message: unknown kind (the first byte must be 1)")
		return
	case p[1] < 1 || p[1] > nameMax:
		fail("binary message: the name length must be 1 to 32")
		return
	case len(p) < 2+int(p[1])+24:
		fail("binary message: shorter than its header (" + itoa(len(p)) + " bytes)")
		return
	case c.name == "":
		fail("Set a username before sending messages")
		return
	}
	to := string(p[2 : 2+p[1]])
	c.srv.mu.RLock()
	dst := c.srv.users[to]
	c.srv.mu.RUnlock()
	if dst == nil {
		putBuf(b)
		c.notify(to, to+" is not online")
		return
	}
	if !dst.binary.Load() {
		putBuf(b)
		c.notify(to, to+" does not accept binary relay: send the file as FILE_CHUNK messages")
		return
	}
	rest := headRoom + 2 + int(p[1])
	start := rest - len(c.name) - 2
	b.b[start] = 1
	b.b[start+1] = byte(len(c.name))
	copy(b.b[start+2:], c.name)
	if !dst.send(outMsg{kind: websocket.BinaryMessage, data: b.b[start:n], owner: b}) {
		putBuf(b)
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

type userList struct {
	Type  string   `json:"type"`
	Users []string `json:"users"`
}

type usernameSet struct {
	Type           string   `json:"type"`
	Username       string   `json:"username"`
	AvailableUsers []string `json:"availableUsers"`
}

// list: every registered name but self, in byte order; under srv.mu.
func (s *server) list(self string) []string {
	l := make([]string, 0, len(s.users))
	for name := range s.users {
		if name != self {
			l = append(l, name)
		}
	}
	sort.Strings(l)
	return l
}

// broadcast: a fresh USER_LIST for every registered user (after a join,
// leave or rename). Built under the read lock, sent after it.
func (s *server) broadcast() {
	type item struct {
		c *client
		b []byte
	}
	s.mu.RLock()
	all := s.list("")
	items := make([]item, 0, len(s.users))
	for _, c := range s.users {
		l := make([]string, 0, len(all))
		for _, name := range all {
			if name != c.name {
				l = append(l, name)
			}
		}
		b, _ := json.Marshal(userList{"USER_LIST", l})
		items = append(items, item{c, b})
	}
	s.mu.RUnlock()
	for _, it := range items {
		it.c.send(outMsg{kind: websocket.TextMessage, data: it.b})
	}
}

func nameProblem(name string) string {
	if len(name) < 3 {
		return "Username must be at least 3 characters"
	}
	if len(name) > nameMax {
		return "Username must be at most 32 characters"
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' ||
			ch == '.') {
			return "Username may contain only letters, digits, _, - and ."
		}
	}
	return ""
}

// members reads a cold-path message (SET_USERNAME, CAPABILITIES) into
// its members; keys match exactly.
func members(msg []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return nil
	}
	return m
}

func (c *client) setUsername(msg []byte) {
	var name string
	if json.Unmarshal(members(msg)["username"], &name) != nil {
		c.sendError(`"username" must be a string`)
		return
	}
	name = strings.Trim(name, " \t\n\r\f\v")
	if why := nameProblem(name); why != "" {
		c.sendJSON(errorMsg{"USERNAME_ERROR", why})
		return
	}
	s := c.srv
	s.mu.Lock()
	if h := s.users[name]; h != nil && h != c {
		s.mu.Unlock()
		c.sendJSON(errorMsg{"USERNAME_ERROR", "Username already taken"})
		return
	}
	changed := c.name != name
	if changed && c.name != "" {
		delete(s.users, c.name)
	}
	c.name = name
	s.users[name] = c
	l := s.list(name)
	s.mu.Unlock()
	c.sendJSON(usernameSet{"USERNAME_SET", name, l})
	if changed {
		s.broadcast()
	} else {
		c.sendJSON(userList{"USER_LIST", l})
	}
}

type capsReply struct {
	Type            string `json:"type"`
	BinaryRelay     bool   `json:"binaryRelay"`
	MaxMessageBytes int    `json:"maxMessageBytes"`
	Transfer        int    `json:"transfer"`
}

// capabilities: binary chunks and TRANSFER (ICE_SERVERS and PEER_INFO are
// rtftd's, not here: iceServers is answered false).
func (c *client) capabilities(msg []byte) {
	m := members(msg)
	var bin bool
	var xfer int
	json.Unmarshal(m["binaryRelay"], &bin)
	json.Unmarshal(m["transfer"], &xfer)
	c.binary.Store(bin)
	c.xfer.Store(xfer == 1)
	c.sendJSON(capsReply{"CAPABILITIES", true, c.srv.maxMessage, 1})
}

func (c *client) leave() {
	c.kill()
	s := c.srv
	s.mu.Lock()
	gone := c.name != "" && s.users[c.name] == c
	if gone {
		delete(s.users, c.name)
	}
	s.mu.Unlock()
	if gone {
		s.broadcast()
	}
}
