// Package reader is the host side of the My Number Card: it talks to a card through a
// Transport and speaks the card's JPKI application (公的個人認証AP) and its card-info input
// support application (券面事項入力補助AP).
//
// It owns:
//   - Transport, with two drivers: PC/SC through pcscd's socket (PCSC, PCSCCard; pure Go, no
//     cgo) and a card object in this process (InProcess, for `--card CARD.json` and tests);
//   - Client, the JPKI operations: token label and status, reading the auth, signing and CA
//     certificates, PIN tries left, reading the basic 4 facts and the My Number;
//   - Signer, a crypto.Signer whose key stays on the card;
//   - Error, one typed error with a Reason for every way a card session fails (no reader, no
//     card, card removed, not a My Number Card, wrong PIN with tries left, PIN blocked,
//     malformed response, …).
//
// It does not own the card (package card simulates one; this package never imports it), the
// APDU byte format (package apdu), the certificate profiles and record encodings (package
// jpki), certificate verification (package verify) or anything that talks HTTP.
//
// # PC/SC
//
// PC/SC goes through github.com/gballet/go-libpcsclite, a pure-Go client of pcscd's socket
// protocol. The library takes the socket path as an argument and does not read the
// environment itself; DialPCSC uses WithSocket, else $PCSCLITE_CSOCK_NAME (the variable C
// libpcsclite clients honour, and what internal/pcsctest sets for a private pcscd), else
// /run/pcscd/pcscd.comm. The library is small and has gaps this package works around:
//
//   - reader names come NUL-padded to 128 bytes: they are trimmed;
//   - it decodes pcscd's reader states with wrong offsets and keeps them private: the one
//     message that carries them (card present, held exclusively, ATR, event counter) is read
//     by this package on a connection of its own (pcscstate.go);
//   - its errors carry the SCARD_* code only in their text: the code is parsed back out;
//   - its calls cannot be cancelled or time out: each runs in a goroutine bounded by the
//     context and WithCallTimeout, and a call that never returns marks the connection broken;
//   - it has no SCardGetStatusChange: WaitForCard polls;
//   - ReleaseContext does not close its socket: keep one PCSC for the life of a process rather
//     than dialing per operation.
//
// A pulled card shows up in pcscd as an error code (removed card, no card, transaction
// failed) or, through vsmartcard's vpcd, first as one empty response, after which the reader
// state shows the card gone; all of them become ReasonCardRemoved. Sessions are exclusive, so no other program can slip commands between
// this client's VERIFY and its signature, and a session that presented a PIN resets the card
// when it closes, so nobody inherits the verified state.
//
// # Card protocol
//
// The APDU sequences follow what real readers send (OpenSC's jpki driver, jpki/myna):
// SELECT by AID with P2=0C, SELECT EF by FID, READ BINARY of the first 7 bytes to learn the
// length from the DER/BER header and then the rest in chunks of at most 256 bytes, an empty
// VERIFY (00 20 00 80) for the tries left (63Cx), VERIFY with the ASCII PIN, and COMPUTE
// DIGITAL SIGNATURE (80 2A 00 80) over a DigestInfo built here. The facts and their sources
// are in docs/design/jpki-reference.md; the design, the error table and the measured speed in
// docs/design/reader.md.
package reader
