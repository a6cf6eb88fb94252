package main

// go test (GO111MODULE=off GOPATH=/usr/share/gocode): the relayed shape is
// rtftd's, byte for byte (the cases of rtftd's tests/unit/test_proto.c),
// in every parse mode; the scanner refuses what it must. go test -bench .
// compares the scanner with encoding/json.

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

var shapes = []struct{ in, want string }{
	{`{"type":"FILE_COMPLETE","recipient":"bob","fileName":"a.txt"}`,
		`{"sender":"alice","type":"FILE_COMPLETE","fileName":"a.txt"}`},
	{`{"recipient":"bob","type":"FILE_COMPLETE","fileName":"a.txt"}`,
		`{"sender":"alice","type":"FILE_COMPLETE","fileName":"a.txt"}`},
	{`{"type":"FILE_COMPLETE","fileName":"a.txt","recipient":"bob"}`,
		`{"sender":"alice","type":"FILE_COMPLETE","fileName":"a.txt"}`},
	{` { "type" : "WEBRTC_ANSWER" , "recipient" : "bob" , "answer" : {"sdp" : "x"} } `,
		`{"sender":"alice", "type" : "WEBRTC_ANSWER"  , "answer" : {"sdp" : "x"} }`},
	{"{\n\"recipient\":\"bob\",\n\"type\":\"FILE_COMPLETE\",\n\"fileName\":\"x\"\n}",
		"{\"sender\":\"alice\",\n\n\"type\":\"FILE_COMPLETE\",\n\"fileName\":\"x\"\n}"},
	{"{\"type\":\"FILE_COMPLETE\",\"fileName\":\"x\" ,\t\"recipient\":\"bob\"\n}",
		"{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"x\" \n}"},
	{`{"type":"WEBRTC_OFFER","\u0072ecipient":"bob","offer":{"type":"offer","sdp":"v=0\r\n"}}`,
		`{"sender":"alice","type":"WEBRTC_OFFER","offer":{"type":"offer","sdp":"v=0\r\n"}}`},
	{`{"type":"WEBRTC_ICE_CANDIDATE","candidate":{"recipient":"x"},"recipient":"bob"}`,
		`{"sender":"alice","type":"WEBRTC_ICE_CANDIDATE","candidate":{"recipient":"x"}}`},
	{`{"type":"WEBRTC_ICE_CANDIDATE","recipient":"bob","candidate":null}`,
		`{"sender":"alice","type":"WEBRTC_ICE_CANDIDATE","candidate":null}`},
	{`{"type":"FILE_METADATA","recipient":"bob","file":{"name":"a","size":1,"type":"text/plain"}}`,
		`{"sender":"alice","type":"FILE_METADATA","file":{"name":"a","size":1,"type":"text/plain"},"transferMode":"websocket"}`},
	{`{ "type":"FILE_METADATA", "file":{"name":"a","size":1}, "recipient":"bob" }`,
		`{"sender":"alice", "type":"FILE_METADATA", "file":{"name":"a","size":1} ,"transferMode":"websocket"}`},
	{`{"type":"FILE_METADATA","recipient":"bob","file":{"name":"a","size":1},"transferMode":"webrtc"}`,
		`{"sender":"alice","type":"FILE_METADATA","file":{"name":"a","size":1},"transferMode":"webrtc"}`},
	{`{"type":"FILE_CHUNK","recipient":"bob","file":{"name":"a","offset":0,"data":[1,2]}}`,
		`{"sender":"alice","type":"FILE_CHUNK","file":{"name":"a","offset":0,"data":[1,2]}}`},
	{`{"type":"FILE_COMPLETE","x":[1e5,-0.5,"\u00e9\ud83d\ude00"],"recipient":"bob","fileName":""}`,
		`{"sender":"alice","type":"FILE_COMPLETE","x":[1e5,-0.5,"\u00e9\ud83d\ude00"],"fileName":""}`},
	// only the recipient: nothing else to put after the sender
	{`{"recipient":"bob"}`, `{"sender":"alice"}`},
	{`{"recipient":"bob","type":"FILE_METADATA"}`, `{"sender":"alice","type":"FILE_METADATA","transferMode":"websocket"}`},
}

type parser struct {
	name string
	fn   func([]byte) (scanResult, scanErr)
}

var parsers = []parser{
	{"loose", func(b []byte) (scanResult, scanErr) { return scanMessage(b, false) }},
	{"validate", func(b []byte) (scanResult, scanErr) { return scanMessage(b, true) }},
	{"json", parseJSON},
}

// relayed: what the relay sends for in, from alice.
func relayed(t *testing.T, p parser, in string) string {
	r, e := p.fn([]byte(in))
	if e != scanOK || !r.object || r.rec.count != 1 || r.rec.value() != "bob" {
		t.Fatalf("%s: %q: scan error %d, object %v, recipient %q (%d)", p.name, in, e, r.object, r.rec.value(),
			r.rec.count)
	}
	buf := make([]byte, headRoom+len(in)+tailRoom)
	copy(buf[headRoom:], in)
	typ := r.typ.value()
	start, end := rewrite(buf, headRoom, &r, typ == "FILE_METADATA" && r.mode == 0, "alice")
	return string(buf[start:end])
}

func TestShapes(t *testing.T) {
	for _, p := range parsers {
		for _, c := range shapes {
			if got := relayed(t, p, c.in); got != c.want {
				t.Errorf("%s: %q\n got %q\nwant %q", p.name, c.in, got, c.want)
			}
		}
	}
}

func TestMembers(t *testing.T) {
	r, e := scanMessage([]byte(`{"type":"X","sender":"eve","recipient":"b\"o","type":1,"transferMode":"w"}`), true)
	if e != scanOK || r.typ.count != 2 || r.typ.str || r.sender != 1 || r.mode != 1 || r.rec.value() != `b"o` {
		t.Fatalf("got %+v, %d", r, e)
	}
	r, e = scanMessage([]byte(` [1,{"type":"X"}] `), true)
	if e != scanOK || r.object {
		t.Fatalf("an array is no object: %+v, %d", r, e)
	}
}

func TestRefused(t *testing.T) {
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	// refused in every mode (structure)
	both := []string{``, `{`, `{"type":"X"`, `{"type":"X",}`, `{"type" "X"}`, `{"type":"X"} x`, `{"a":[1,2}`,
		`{"a":{"b":1]}`, `{"a":"x}`, `{type:"X"}`, `{"type":"X","a":[` + `}`, `{"a":` + deep + `}`}
	// refused when validating (grammar inside values, UTF-8)
	strict := []string{`{"a":[1,,2]}`, `{"a":[01]}`, `{"a":[1,]}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12"}`,
		"{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":{"b" 1}}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":[1 2]}`}
	for _, in := range both {
		for _, p := range parsers {
			if _, e := p.fn([]byte(in)); e == scanOK {
				t.Errorf("%s accepted %q", p.name, in)
			}
		}
	}
	for _, in := range strict {
		if _, e := scanMessage([]byte(in), true); e == scanOK {
			t.Errorf("validate accepted %q", in)
		}
		// encoding/json takes invalid UTF-8 (as U+FFFD)
		if _, e := parseJSON([]byte(in)); e == scanOK && !strings.Contains(in, "\xff") {
			t.Errorf("json accepted %q", in)
		}
	}
	if _, e := scanMessage([]byte(`{"a":`+deep+`}`), true); e != scanDepth {
		t.Errorf("depth: %d", e)
	}
	ok := []string{`{"a":[0,1,255,-1.5e+3,true,false,null,"é",{"b":[]}],"c":{}}`, `{}`, ` {"a" : [ 1 , 2 ] } `}
	for _, in := range ok {
		for _, p := range parsers {
			if _, e := p.fn([]byte(in)); e != scanOK {
				t.Errorf("%s refused %q: %d", p.name, in, e)
			}
		}
	}
}

func TestPool(t *testing.T) {
	for _, n := range []int{1, 511, 512, 513, 1 << 20, 3<<20 + 7} {
		b := getBuf(n)
		if len(b.b) < n || len(b.b) < 512 {
			t.Fatalf("getBuf(%d): %d bytes", n, len(b.b))
		}
		putBuf(b)
	}
}

// chunk: a FILE_CHUNK as the generator writes it, 256 KiB of data.
func chunk() []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"FILE_CHUNK","recipient":"fr0","file":{"name":"f.bin","size":67108864,"offset":0,"data":[`)
	x := uint32(1)
	for i := 0; i < 256<<10; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", x&255)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

var ice = []byte(`{"type":"WEBRTC_ICE_CANDIDATE","recipient":"b0001","candidate":{"candidate":"candidate:842163049 1 ` +
	`udp 1677729535 192.0.2.17 52345 typ srflx raddr 10.0.0.5 rport 52345 generation 0 ufrag abcd network-cost ` +
	`999 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","sdpMid":"0","sdpMLineIndex":0,` +
	`"usernameFragment":"1765113600000000000"}}`)

func benchParse(b *testing.B, p parser, msg []byte) {
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, e := p.fn(msg); e != scanOK {
			b.Fatal("refused")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	c := chunk()
	for _, p := range parsers {
		b.Run("chunk/"+p.name, func(b *testing.B) { benchParse(b, p, c) })
		b.Run("ice/"+p.name, func(b *testing.B) { benchParse(b, p, ice) })
	}
}
