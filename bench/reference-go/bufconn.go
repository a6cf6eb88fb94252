package main

// bufConn: a net.Conn whose writes, once the WebSocket is open, gather in
// a buffer that the connection's writer flushes when its queue is empty.
// gorilla/websocket writes every message to the socket when it is
// finished, one write(2) each; this turns a burst of small messages into
// one. Before the switch (HTTP request, 101 response) writes go straight
// through. The mutex covers control frames (pong, close) written from the
// reader while the writer works.

import (
	"bufio"
	"net"
	"sync"
	"time"
)

const writeTimeout = 30 * time.Second

type bufConn struct {
	net.Conn
	mu       sync.Mutex
	buffered bool
	w        *bufio.Writer
}

func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.buffered {
		return c.Conn.Write(p)
	}
	if len(p) > c.w.Available() {
		// bufio writes through to the socket now: set the deadline
		c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	return c.w.Write(p)
}

// SetWriteDeadline: gorilla sets one (zero: none) before every message;
// the deadline that matters is set around the real write, in flush.
func (c *bufConn) SetWriteDeadline(time.Time) error {
	return nil
}

func (c *bufConn) startBuffering(size int) {
	c.mu.Lock()
	c.w = bufio.NewWriterSize(c.Conn, size)
	c.buffered = true
	c.mu.Unlock()
}

// flush writes what is buffered; a receiver that takes nothing for
// writeTimeout is cut off.
func (c *bufConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.buffered || c.w.Buffered() == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.w.Flush()
}

// listener hands out bufConns.
type listener struct {
	net.Listener
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufConn{Conn: c}, nil
}
