package reader

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// This file reads pcscd's reader states itself. go-libpcsclite fetches them in ListReaders but
// decodes them with the offsets of its own Go struct (whose first field is a string header, not
// the 128-byte name) and keeps them private, so card presence, sharing and ATR are not
// available through it. The message is small: after the version handshake, CMD_GET_READERS_STATE
// answers with PCSCLITE_MAX_READERS_CONTEXTS fixed-size records (pcsc-lite eventhandler.h,
// struct pubReaderStatesList), read here on a short-lived connection of its own.

const (
	cmdVersion         = 0x11 // CMD_VERSION
	cmdGetReadersState = 0x12 // CMD_GET_READERS_STATE
	maxReaders         = 16   // PCSCLITE_MAX_READERS_CONTEXTS
	readerNameLen      = 128  // MAX_READERNAME
	atrMax             = 33   // MAX_ATR_SIZE
	// stateRecordLen is sizeof(struct pubReaderStatesList): name[128], eventCounter, readerState,
	// readerSharing (u32 each), cardAtr[33], 3 bytes padding, cardAtrLength, cardProtocol.
	stateRecordLen = readerNameLen + 3*4 + atrMax + 3 + 2*4

	scardPresent            = 0x0004 // SCARD_PRESENT in readerState
	sharingExclusiveContext = -1     // PCSCLITE_SHARING_EXCLUSIVE_CONTEXT in readerSharing
)

// readerState is one decoded pubReaderStatesList record.
type readerState struct {
	name    string
	events  uint32 // eventCounter: changes on every insertion and removal
	present bool
	held    bool // someone holds the card exclusively
	atr     []byte
}

// readerStates asks pcscd for the state of every reader.
func readerStates(ctx context.Context, socket string, timeout time.Duration) ([]readerState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Reason: ReasonTimeout, Detail: "pcscd did not answer", Err: ctx.Err()}
		}
		return nil, &Error{Reason: ReasonNoService, Detail: socket, Err: err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	fail := func(err error) ([]readerState, error) {
		if ctx.Err() != nil {
			return nil, &Error{Reason: ReasonTimeout, Detail: "pcscd did not answer", Err: ctx.Err()}
		}
		return nil, &Error{Reason: ReasonNoService, Detail: "reader states", Err: err}
	}
	// Version handshake: major 4, minor 4 (pcsc-lite ≥ 1.8.24), else 3.
	var ok bool
	for _, minor := range []uint32{4, 3} {
		msg := make([]byte, 8+12)
		binary.LittleEndian.PutUint32(msg[0:], 12)
		binary.LittleEndian.PutUint32(msg[4:], cmdVersion)
		binary.LittleEndian.PutUint32(msg[8:], 4)
		binary.LittleEndian.PutUint32(msg[12:], minor)
		if _, err := conn.Write(msg); err != nil {
			return fail(err)
		}
		resp := make([]byte, 12)
		if _, err := io.ReadFull(conn, resp); err != nil {
			return fail(err)
		}
		if binary.LittleEndian.Uint32(resp[8:]) == 0 {
			ok = true
			break
		}
	}
	if !ok {
		return fail(fmt.Errorf("pcscd refused protocol versions 4.4 and 4.3"))
	}
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr[4:], cmdGetReadersState)
	if _, err := conn.Write(hdr); err != nil {
		return fail(err)
	}
	buf := make([]byte, maxReaders*stateRecordLen)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fail(err)
	}
	var out []readerState
	for i := range maxReaders {
		r := buf[i*stateRecordLen : (i+1)*stateRecordLen]
		name := trimReaderName(string(r[:readerNameLen]))
		if name == "" {
			continue // free slot; pcscd may leave holes when readers go away
		}
		off := readerNameLen
		st := readerState{
			name:    name,
			events:  binary.LittleEndian.Uint32(r[off:]),
			present: binary.LittleEndian.Uint32(r[off+4:])&scardPresent != 0,
			held:    int32(binary.LittleEndian.Uint32(r[off+8:])) == sharingExclusiveContext,
		}
		atrLen := int(binary.LittleEndian.Uint32(r[off+12+atrMax+3:]))
		if st.present && atrLen > 0 && atrLen <= atrMax {
			st.atr = append([]byte(nil), r[off+12:off+12+atrLen]...)
		}
		out = append(out, st)
	}
	return out, nil
}
