package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is a Socket Mode acknowledgement the app sent back.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// socket is the fake's Socket Mode endpoint: one connection at a time,
// like a single app instance.
type socket struct {
	s        *Server
	upgrader websocket.Upgrader

	mu     sync.Mutex
	conn   *websocket.Conn
	acks   []Ack
	seq    int
	closed bool
	stop   chan struct{}
}

func newSocket(s *Server) *socket {
	// Slack's client sends an Origin of its own; the fake accepts any.
	return &socket{s: s, stop: make(chan struct{}), upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
}

func (k *socket) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := k.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	hello := map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0SIGNOFF"}, "debug_info": map[string]any{"host": "fake"}}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		_ = conn.Close()
		return
	}
	if k.conn != nil {
		_ = k.conn.Close()
	}
	k.conn = conn
	err = conn.WriteJSON(hello)
	k.mu.Unlock()
	k.s.mu.Lock()
	k.s.notifyLocked()
	k.s.mu.Unlock()
	if err != nil {
		return
	}
	go k.ping(conn)
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			k.mu.Lock()
			if k.conn == conn {
				k.conn = nil
			}
			k.mu.Unlock()
			return
		}
		var a Ack
		if json.Unmarshal(msg, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		k.mu.Lock()
		k.acks = append(k.acks, a)
		k.mu.Unlock()
		k.s.mu.Lock()
		k.s.notifyLocked()
		k.s.mu.Unlock()
	}
}

// ping keeps the client's dead-man timer happy, as Slack does.
func (k *socket) ping(conn *websocket.Conn) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			k.mu.Lock()
			if k.conn != conn {
				k.mu.Unlock()
				return
			}
			err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			k.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (k *socket) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.closed = true
	close(k.stop)
	if k.conn != nil {
		_ = k.conn.Close()
		k.conn = nil
	}
}

// SocketConnected reports whether an app holds a Socket Mode connection.
func (s *Server) SocketConnected() bool {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return s.socket.conn != nil
}

// SocketSend sends an envelope over the Socket Mode connection: typ is
// "interactive" or "slash_commands", payload the JSON Slack would send
// (for slash commands, an object of the command's form fields). It returns
// the envelope ID the app must acknowledge.
func (s *Server) SocketSend(typ string, payload json.RawMessage, retryAttempt int) (string, error) {
	k := s.socket
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return "", fmt.Errorf("no Socket Mode connection")
	}
	k.seq++
	id := fmt.Sprintf("env-%d", k.seq)
	env := map[string]any{
		"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": true, "retry_attempt": retryAttempt,
	}
	if retryAttempt > 0 {
		env["retry_reason"] = "timeout"
	}
	return id, k.conn.WriteJSON(env)
}

// SocketAcks are the acknowledgements received, oldest first.
func (s *Server) SocketAcks() []Ack {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return slices.Clone(s.socket.acks)
}
