package main

// The relay's look at a client's text message, in one pass and without
// building a tree: where the top-level object is, the top-level "type" and
// "recipient" (values and the byte span to cut), and whether "sender" or
// "transferMode" are there. Two depths of checking:
//
//   loose     the top level is checked member by member; a nested object or
//             array is skipped by its brackets (strings respected), with
//             bytes.IndexByte for the common case of an array without
//             strings or nested containers (FILE_CHUNK's data)
//   validate  every byte is checked against the JSON grammar (RFC 8259)
//             and UTF-8 inside strings, nesting at most maxDepth levels,
//             as rtftd does
//
// Who calls: the connection's reader (relay.go). Results: a scanResult; on
// failure err says why (scanSyntax: "Invalid message format").

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

const maxDepth = 32

type scanErr int

const (
	scanOK scanErr = iota
	scanSyntax
	scanDepth
)

// A top-level string member the relay reads: its raw text between the
// quotes, whether it holds an escape, and how many times it occurred.
type field struct {
	raw   []byte
	esc   bool
	str   bool // the last occurrence was a string
	count int
}

// value decodes the string (escapes are rare: a plain copy otherwise).
func (f *field) value() string {
	if !f.esc {
		return string(f.raw)
	}
	var s string
	q := make([]byte, 0, len(f.raw)+2)
	q = append(append(append(q, '"'), f.raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return ""
	}
	return s
}

type scanResult struct {
	object      bool // the message is a JSON object
	open, close int  // offsets of its braces
	members     int
	typ, rec    field
	sender      int // top-level "sender" members
	mode        int // top-level "transferMode" members
	// the last "recipient" member: its key's first byte, one past its
	// value, and the commas before and after it (-1: none)
	recKey, recEnd, commaBefore, commaAfter int
}

type scanner struct {
	b        []byte
	p        int
	depth    int
	validate bool
	err      scanErr
	esc      bool // the last string scanned held a backslash
}

func (s *scanner) fail() bool {
	if s.err == scanOK {
		s.err = scanSyntax
	}
	return false
}

func (s *scanner) ws() {
	b, p := s.b, s.p
	for p < len(b) && (b[p] == ' ' || b[p] == '\n' || b[p] == '\r' || b[p] == '\t') {
		p++
	}
	s.p = p
}

func (s *scanner) peek() byte {
	if s.p < len(s.b) {
		return s.b[s.p]
	}
	return 0
}

// str scans a string from its opening quote; s.esc tells whether it held
// an escape.
func (s *scanner) str() bool {
	b := s.b
	p := s.p + 1
	start := p
	if !s.validate {
		if j := bytes.IndexByte(b[p:], '"'); j >= 0 && bytes.IndexByte(b[p:p+j], '\\') < 0 {
			s.esc = false
			s.p = p + j + 1
			return true
		}
	}
	esc, high := false, false
	for {
		if p >= len(b) {
			return s.fail()
		}
		c := b[p]
		if c == '"' {
			break
		}
		if c == '\\' {
			esc = true
			if p+1 >= len(b) {
				return s.fail()
			}
			if s.validate {
				switch b[p+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if p+5 >= len(b) || !isHex(b[p+2]) || !isHex(b[p+3]) || !isHex(b[p+4]) || !isHex(b[p+5]) {
						return s.fail()
					}
					p += 4
				default:
					return s.fail()
				}
			}
			p += 2
			continue
		}
		if c < 0x20 && s.validate {
			return s.fail()
		}
		if c >= 0x80 {
			high = true
		}
		p++
	}
	if high && s.validate && !utf8.Valid(b[start:p]) {
		return s.fail()
	}
	s.esc = esc
	s.p = p + 1
	return true
}

func isHex(c byte) bool {
	return c-'0' < 10 || (c|0x20)-'a' < 6
}

func isDigit(c byte) bool {
	return c-'0' < 10
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		s.err = scanDepth
		return false
	}
	return true
}

// value scans any JSON value at s.p.
func (s *scanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{':
		if !s.validate {
			return s.loose()
		}
		return s.object()
	case c == '[':
		if !s.validate {
			return s.loose()
		}
		return s.array()
	case c == '-' || isDigit(c):
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return s.fail()
}

func (s *scanner) lit(w string) bool {
	if len(s.b)-s.p < len(w) || string(s.b[s.p:s.p+len(w)]) != w {
		return s.fail()
	}
	s.p += len(w)
	return true
}

// number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; loosely, the
// run of bytes that can be part of one.
func (s *scanner) number() bool {
	b, p := s.b, s.p
	if !s.validate {
		for p < len(b) && (isDigit(b[p]) || b[p] == '-' || b[p] == '+' || b[p] == '.' || b[p]|0x20 == 'e') {
			p++
		}
		s.p = p
		return true
	}
	if p < len(b) && b[p] == '-' {
		p++
	}
	if p >= len(b) || !isDigit(b[p]) {
		return s.fail()
	}
	if b[p] == '0' {
		p++
	} else {
		for p < len(b) && isDigit(b[p]) {
			p++
		}
	}
	if p < len(b) && b[p] == '.' {
		p++
		if p >= len(b) || !isDigit(b[p]) {
			return s.fail()
		}
		for p < len(b) && isDigit(b[p]) {
			p++
		}
	}
	if p < len(b) && b[p]|0x20 == 'e' {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if p >= len(b) || !isDigit(b[p]) {
			return s.fail()
		}
		for p < len(b) && isDigit(b[p]) {
			p++
		}
	}
	s.p = p
	return true
}

// array (validate): elements that are plain integers followed by ',' or
// ']' are taken in an inner loop (a FILE_CHUNK is 256K of them).
func (s *scanner) array() bool {
	if !s.enter() {
		return false
	}
	s.p++
	s.ws()
	if s.peek() == ']' {
		s.p++
		s.depth--
		return true
	}
	b := s.b
	for {
		s.ws()
		p := s.p
		for p < len(b) {
			c := b[p]
			if !isDigit(c) {
				break
			}
			q := p + 1
			if c != '0' {
				for q < len(b) && isDigit(b[q]) {
					q++
				}
			}
			if q >= len(b) {
				break
			}
			if b[q] == ',' {
				p = q + 1
				continue
			}
			if b[q] == ']' {
				s.p = q + 1
				s.depth--
				return true
			}
			break
		}
		s.p = p
		if !s.value() {
			return false
		}
		s.ws()
		c := s.peek()
		s.p++
		if c == ',' {
			continue
		}
		if c == ']' {
			break
		}
		return s.fail()
	}
	s.depth--
	return true
}

// object (validate): nested objects, keys not looked at.
func (s *scanner) object() bool {
	if !s.enter() {
		return false
	}
	s.p++
	s.ws()
	if s.peek() == '}' {
		s.p++
		s.depth--
		return true
	}
	for {
		s.ws()
		if s.peek() != '"' || !s.str() {
			return s.fail()
		}
		s.ws()
		if s.peek() != ':' {
			return s.fail()
		}
		s.p++
		s.ws()
		if !s.value() {
			return false
		}
		s.ws()
		c := s.peek()
		s.p++
		if c == ',' {
			continue
		}
		if c == '}' {
			break
		}
		return s.fail()
	}
	s.depth--
	return true
}

// loose skips a nested object or array by its brackets. An array with no
// string and no container inside ends at its first ']': found with
// IndexByte (vectorised), which is most of the bytes a relay sees.
func (s *scanner) loose() bool {
	b := s.b
	var stack [maxDepth]byte
	n := 0
	p := s.p
	for p < len(b) {
		switch c := b[p]; c {
		case '"':
			s.p = p
			if !s.str() {
				return false
			}
			p = s.p
			continue
		case '[':
			if j := flatArray(b[p+1:]); j >= 0 {
				p += j + 2
				if n == 0 {
					s.p = p
					return true
				}
				continue
			}
			fallthrough
		case '{':
			if n+s.depth >= maxDepth {
				s.err = scanDepth
				return false
			}
			stack[n] = c + 2 // ']' and '}' are 2 above their openers
			n++
		case ']', '}':
			if n == 0 || stack[n-1] != c {
				return s.fail()
			}
			n--
			if n == 0 {
				s.p = p + 1
				return true
			}
		}
		p++
	}
	return s.fail()
}

// flatArray: for b just after a '[', the offset of the ']' that ends the
// array when nothing inside is a string or a container, else -1.
func flatArray(b []byte) int {
	j := bytes.IndexByte(b, ']')
	if j < 0 {
		return -1
	}
	in := b[:j]
	if bytes.IndexByte(in, '"') >= 0 || bytes.IndexByte(in, '[') >= 0 || bytes.IndexByte(in, '{') >= 0 {
		return -1
	}
	return j
}

// key scans a top-level key and says which one the relay cares about.
const (
	keyOther = iota
	keyType
	keyRecipient
	keySender
	keyMode
)

func (s *scanner) key() (int, bool) {
	start := s.p + 1
	if !s.str() {
		return 0, false
	}
	raw := s.b[start : s.p-1]
	if s.esc {
		f := field{raw: raw, esc: true}
		raw = []byte(f.value())
	}
	switch string(raw) {
	case "type":
		return keyType, true
	case "recipient":
		return keyRecipient, true
	case "sender":
		return keySender, true
	case "transferMode":
		return keyMode, true
	}
	return keyOther, true
}

// scanMessage: one value, white space around it and nothing else.
func scanMessage(b []byte, validate bool) (r scanResult, err scanErr) {
	s := scanner{b: b, validate: validate}
	r.recKey, r.commaBefore, r.commaAfter = -1, -1, -1
	s.ws()
	if s.peek() != '{' {
		if !s.value() {
			return r, s.err
		}
		goto tail
	}
	r.object = true
	r.open = s.p
	s.depth = 1
	s.p++
	s.ws()
	if s.peek() == '}' {
		r.close = s.p
		s.p++
		goto tail
	}
	{
		comma := -1
		for {
			if s.peek() != '"' {
				return r, scanSyntax
			}
			keyAt := s.p
			k, ok := s.key()
			if !ok {
				return r, s.err
			}
			s.ws()
			if s.peek() != ':' {
				return r, scanSyntax
			}
			s.p++
			s.ws()
			v := s.p
			if !s.value() {
				return r, s.err
			}
			r.members++
			var f *field
			switch k {
			case keyType:
				f = &r.typ
			case keyRecipient:
				f = &r.rec
				r.recKey, r.recEnd, r.commaBefore, r.commaAfter = keyAt, s.p, comma, -1
			case keySender:
				r.sender++
			case keyMode:
				r.mode++
			}
			if f != nil {
				f.count++
				f.str = b[v] == '"'
				if f.str {
					f.raw, f.esc = b[v+1:s.p-1], s.esc
				}
			}
			s.ws()
			c := s.peek()
			if c == ',' {
				if k == keyRecipient {
					r.commaAfter = s.p
				}
				comma = s.p
				s.p++
				s.ws()
				continue
			}
			if c == '}' {
				r.close = s.p
				s.p++
				break
			}
			return r, scanSyntax
		}
	}
tail:
	s.ws()
	if s.p != len(b) {
		return r, scanSyntax
	}
	return r, scanOK
}
