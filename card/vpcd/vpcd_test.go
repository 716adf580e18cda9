package vpcd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card/vpcd"
)

// fakeCard records what the bridge asked of it.
type fakeCard struct {
	mu     sync.Mutex
	resets int
	apdus  [][]byte
}

func (f *fakeCard) ATR() []byte { return []byte{0x3B, 0x00} }
func (f *fakeCard) Transmit(b []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apdus = append(f.apdus, append([]byte(nil), b...))
	return []byte{0x90, 0x00}
}
func (f *fakeCard) Reset() { f.mu.Lock(); f.resets++; f.mu.Unlock() }

func writeFrame(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	out := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
	if _, err := c.Write(append(out, b...)); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// The bridge speaks vpcd's framing, answers control codes as vpcd expects, and comes back after
// the reader side drops the connection (pcscd restarting).
func TestProtocolAndReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fc := &fakeCard{}
	states := make(chan vpcd.State, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- vpcd.Serve(ctx, ln.Addr().String(), fc,
			vpcd.WithBackoff(time.Millisecond, 10*time.Millisecond),
			vpcd.WithStateHook(func(s vpcd.State) { states <- s }))
	}()

	for round := 0; round < 2; round++ {
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if s := <-states; s != vpcd.Inserted {
			t.Fatalf("state %v", s)
		}
		writeFrame(t, conn, []byte{vpcd.CtrlPowerOn})
		writeFrame(t, conn, []byte{vpcd.CtrlGetATR})
		if got := readFrame(t, conn); !bytes.Equal(got, []byte{0x3B, 0x00}) {
			t.Fatalf("ATR frame % X", got)
		}
		writeFrame(t, conn, []byte{0x00, 0xA4, 0x04, 0x0C})
		if got := readFrame(t, conn); !bytes.Equal(got, []byte{0x90, 0x00}) {
			t.Fatalf("response frame % X", got)
		}
		writeFrame(t, conn, []byte{vpcd.CtrlReset})
		writeFrame(t, conn, []byte{vpcd.CtrlPowerOff})
		writeFrame(t, conn, []byte{0x00, 0xB0, 0x00, 0x00, 0x04})
		readFrame(t, conn)
		conn.Close() // the reader goes away; the bridge must reconnect
		if s := <-states; s != vpcd.Removed {
			t.Fatalf("state %v", s)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.apdus) != 4 || !bytes.Equal(fc.apdus[1], []byte{0x00, 0xB0, 0x00, 0x00, 0x04}) {
		t.Fatalf("APDUs seen: % X", fc.apdus)
	}
	// power on, reset, power off per round, plus one reset per removal
	if fc.resets != 8 {
		t.Fatalf("resets = %d, want 8", fc.resets)
	}
}

// Cancelling Serve while connected closes the connection (the card is removed).
func TestCancelRemovesCard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- vpcd.Serve(ctx, ln.Addr().String(), &fakeCard{}) }()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after cancel: %v, want EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := vpcd.Serve(context.Background(), "no-port", &fakeCard{}); err == nil {
		t.Fatal("bad address accepted")
	}
}

// Serve keeps retrying while nothing listens, and returns promptly when cancelled.
func TestRetriesUntilCancelled(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := vpcd.Serve(ctx, addr, &fakeCard{}, vpcd.WithBackoff(time.Millisecond, 5*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Serve took %v after cancellation", el)
	}
}

// Serve says once that it waits for vpcd, not at every retry, and again after a connection ends.
func TestWaitHook(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the bridge waits
	waits := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- vpcd.Serve(ctx, addr, &fakeCard{}, vpcd.WithBackoff(time.Millisecond, 2*time.Millisecond),
			vpcd.WithWaitHook(func(err error) { waits <- err }))
	}()
	if err := <-waits; err == nil {
		t.Fatal("wait hook called without the error")
	}
	time.Sleep(50 * time.Millisecond) // dozens of retries
	if n := len(waits); n != 0 {
		t.Errorf("wait hook called %d more times while still waiting", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
