package card

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"

	"github.com/mynagate/mynagate/apdu"
)

// selectFile is SELECT (00 A4), REFERENCE §1 and §3: P1 04 selects an application by AID
// (P2 0C: no response data; P2 00: an FCI), P1 02 an EF of the current application by its
// 2-byte id, P1 00 without data the MF.
func (c *Card) selectFile(cmd apdu.Command) apdu.Response {
	switch cmd.P1 {
	case 0x04:
		if cmd.P2 != 0x0C && cmd.P2 != 0x00 {
			return sw(apdu.SWIncorrectP1P2)
		}
		if len(cmd.Data) == 0 {
			return sw(apdu.SWWrongLength)
		}
		d := c.findDF(cmd.Data)
		if d == nil {
			return sw(apdu.SWFileNotFound)
		}
		// Security state belongs to the application and is lost when an application is
		// selected, the current one included: OpenSC's jpki driver logs out by selecting the
		// JPKI AP again (card-jpki.c jpki_logout), which only works if that drops the PINs.
		clear(c.verified)
		c.cur, c.curEF = d, nil
		if cmd.P2 == 0x00 {
			// FCI template with the DF name, as the card answers SELECT with P2 00 [RELAY].
			fci := append([]byte{0x6F, byte(2 + len(d.aid)), 0x84, byte(len(d.aid))}, d.aid...)
			return ok(truncate(fci, cmd.Ne))
		}
		return ok(nil)
	case 0x02:
		if cmd.P2 != 0x0C && cmd.P2 != 0x00 && cmd.P2 != 0x04 {
			return sw(apdu.SWIncorrectP1P2)
		}
		if len(cmd.Data) != 2 {
			return sw(apdu.SWWrongLength)
		}
		if c.cur == nil {
			return sw(apdu.SWFileNotFound)
		}
		id := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1])
		f := c.cur.files[id]
		if f == nil {
			return sw(apdu.SWFileNotFound)
		}
		c.curEF = f
		if cmd.P2 == 0x0C {
			return ok(nil)
		}
		// FCP: size, structure (01 transparent, 02 linear fixed, 11 internal), file id.
		desc := byte(0x11)
		switch f.kind {
		case efBinary:
			desc = 0x01
		case efRecord:
			desc = 0x02
		}
		n := f.size()
		fcp := []byte{0x62, 0x0B, 0x80, 0x02, byte(n >> 8), byte(n), 0x82, 0x01, desc, 0x83, 0x02, cmd.Data[0], cmd.Data[1]}
		return ok(truncate(fcp, cmd.Ne))
	case 0x00:
		if len(cmd.Data) != 0 {
			// No file is reachable from the MF by id; 3F00 itself answers 6A82 [MC-CARD].
			return sw(apdu.SWFileNotFound)
		}
		if c.cur == nil {
			return sw(apdu.SWIncorrectP1P2) // after reset [MC-CARD]
		}
		return ok(nil) // with a DF selected the card accepts it and does nothing [MC-CARD]
	}
	return sw(apdu.SWIncorrectP1P2)
}

func truncate(b []byte, ne int) []byte {
	if ne > 0 && ne < len(b) {
		return b[:ne]
	}
	return b
}

// efBySFI finds an EF of the current application by short file identifier (the low five bits
// of the file id).
func (c *Card) efBySFI(sfi byte) *ef {
	if c.cur == nil || sfi == 0 {
		return nil
	}
	return c.cur.files[uint16(sfi)]
}

// readBinary is READ BINARY (00 B0). It returns min(Ne, EOF − offset) bytes; an offset at or
// beyond the end of the file answers 6B00 (REFERENCE §11.3).
func (c *Card) readBinary(cmd apdu.Command) apdu.Response {
	if len(cmd.Data) != 0 || cmd.Ne == 0 {
		return sw(apdu.SWWrongLength)
	}
	f, offset := c.curEF, int(cmd.P1)<<8|int(cmd.P2)
	if cmd.P1&0x80 != 0 {
		// P1 = 100 SFI, P2 = offset: read an EF by short id, which becomes current.
		if cmd.P1&0x60 != 0 {
			return sw(apdu.SWIncorrectP1P2)
		}
		f, offset = c.efBySFI(cmd.P1&0x1F), int(cmd.P2)
		if f == nil {
			return sw(apdu.SWFileNotFound)
		}
		c.curEF = f
	}
	if f == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	if f.kind != efBinary {
		return sw(apdu.SWIncompatibleFile)
	}
	if !f.readable(c.verified) {
		return sw(apdu.SWSecurityNotSatisfied)
	}
	if offset >= len(f.data) {
		return sw(apdu.SWWrongP1P2)
	}
	end := min(len(f.data), offset+cmd.Ne)
	return ok(f.data[offset:end])
}

// readRecord is READ RECORD (00 B2) with P1 = record number and P2 = SFI<<3 | 04 (SFI 0 =
// current EF), as used for the 共通カードAP (REFERENCE §2.4).
func (c *Card) readRecord(cmd apdu.Command) apdu.Response {
	if len(cmd.Data) != 0 || cmd.Ne == 0 {
		return sw(apdu.SWWrongLength)
	}
	if cmd.P2&0x07 != 0x04 || cmd.P1 == 0 {
		return sw(apdu.SWIncorrectP1P2)
	}
	f := c.curEF
	if sfi := cmd.P2 >> 3; sfi != 0 {
		if sfi == 0x1F {
			return sw(apdu.SWIncorrectP1P2)
		}
		if f = c.efBySFI(sfi); f == nil {
			return sw(apdu.SWFileNotFound)
		}
		c.curEF = f
	}
	if f == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	if f.kind != efRecord {
		return sw(apdu.SWIncompatibleFile)
	}
	if !f.readable(c.verified) {
		return sw(apdu.SWSecurityNotSatisfied)
	}
	n := int(cmd.P1)
	if n > len(f.records) {
		return sw(apdu.SWRecordNotFound)
	}
	rec := f.records[n-1]
	if cmd.Ne < len(rec) {
		return sw(apdu.StatusWord(0x6C00 | len(rec)&0xFF)) // wrong Le; SW2 = exact length
	}
	return ok(rec)
}

// referencedEF resolves P2 of VERIFY, CHANGE REFERENCE DATA and COMPUTE DIGITAL SIGNATURE:
// 80 = the current EF, 80|n = EF n of the current application (REFERENCE §3.3).
func (c *Card) referencedEF(p2 byte, kind efKind) (*ef, apdu.StatusWord) {
	if p2&0x80 == 0 || p2&0x60 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	f := c.curEF
	if ref := p2 & 0x1F; ref != 0 {
		if f = c.efBySFI(ref); f == nil {
			return nil, apdu.SWReferenceDataNotFound
		}
	}
	if f == nil {
		return nil, apdu.SWNoCurrentEF
	}
	if f.kind != kind {
		return nil, apdu.SWIncompatibleFile
	}
	return f, apdu.SWOK
}

// verify is VERIFY (00 20 00 80). Without data it reports the tries left as 63Cx — always,
// even when verified, since OpenSC requires SW1 63 (REFERENCE §3.1). With data: correct →
// 9000 and the counter restored; wrong → 63C(n−1); no tries left → 6984.
func (c *Card) verify(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x00 {
		return sw(apdu.SWIncorrectP1P2)
	}
	f, s := c.referencedEF(cmd.P2, efPIN)
	if f == nil {
		return sw(s)
	}
	if cmd.Ne != 0 {
		return sw(apdu.SWWrongLength)
	}
	pin := f.pin
	if len(cmd.Data) == 0 {
		return sw(apdu.VerifyFailed(pin.triesLeft()))
	}
	if !pin.fits(len(cmd.Data)) {
		// A PIN of a length the key cannot hold is refused before it is compared, so it
		// costs no try (the length rules of REFERENCE §4).
		return sw(apdu.SWWrongLength)
	}
	if !pin.usable() {
		return sw(apdu.SWReferenceDataBlocked)
	}
	if pin.matches(cmd.Data) {
		changed := pin.p.Tries != pin.p.MaxTries
		pin.p.Tries = pin.p.MaxTries
		if changed && pin.persistent && !c.save(pin) {
			return sw(apdu.SWMemoryFailure)
		}
		c.verified[f.id] = true
		return sw(apdu.SWOK)
	}
	pin.p.Tries--
	delete(c.verified, f.id) // a failed VERIFY drops the PIN's security status
	if pin.persistent && !c.save(pin) {
		return sw(apdu.SWMemoryFailure)
	}
	return sw(apdu.VerifyFailed(pin.p.Tries))
}

// changeReferenceData is CHANGE REFERENCE DATA (00 24 01 80 Lc new): P1 01 means the data is
// the new PIN only, which the card accepts right after a successful VERIFY of that PIN in the
// current application.
func (c *Card) changeReferenceData(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x01 {
		return sw(apdu.SWIncorrectP1P2)
	}
	return c.change(cmd)
}

// changeKey is the 住基AP's JICSAP CHANGE KEY (80 32 00 80 Lc new), REFERENCE §2.4, with the
// same rule as CHANGE REFERENCE DATA.
func (c *Card) changeKey(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x00 {
		return sw(apdu.SWIncorrectP1P2)
	}
	return c.change(cmd)
}

func (c *Card) change(cmd apdu.Command) apdu.Response {
	f, s := c.referencedEF(cmd.P2, efPIN)
	if f == nil {
		return sw(s)
	}
	if len(cmd.Data) == 0 || cmd.Ne != 0 {
		return sw(apdu.SWWrongLength)
	}
	pin := f.pin
	if !pin.usable() {
		return sw(apdu.SWReferenceDataBlocked)
	}
	if !c.verified[f.id] {
		return sw(apdu.SWSecurityNotSatisfied)
	}
	if pin.rule == "" {
		return sw(apdu.SWConditionsNotSatisfied) // collation numbers are printed, not chosen
	}
	if CheckPIN(pin.rule, string(cmd.Data)) != nil {
		return sw(apdu.SWIncorrectData)
	}
	old := *pin.p
	pin.p.Value = string(cmd.Data)
	pin.p.Tries = pin.p.MaxTries
	if pin.persistent && !c.save(pin) {
		*pin.p = old
		return sw(apdu.SWMemoryFailure)
	}
	return sw(apdu.SWOK)
}

// getData is GET DATA (00 CA). The card answers 5F 51 with its contact ATR without TS
// (REFERENCE §1); nothing else is offered.
func (c *Card) getData(cmd apdu.Command) apdu.Response {
	if cmd.P1 == 0x5F && cmd.P2 == 0x51 && !c.cf.Medium.IsPhone() {
		if len(cmd.Data) != 0 || cmd.Ne == 0 {
			return sw(apdu.SWWrongLength)
		}
		return ok(truncate(ATRContact[1:], cmd.Ne))
	}
	return sw(apdu.SWReferenceDataNotFound)
}

// computeSignature is COMPUTE DIGITAL SIGNATURE (80 2A P1 80, REFERENCE §3.3) with the key of
// the current EF (or P2 80|n). P1 00, which every mainstream reader uses, pads the data as
// given (the host's DigestInfo) with PKCS#1 v1.5 type 1; P1 01–05 are the other schemes probed
// on a real card (single source, kept for readers that try them).
func (c *Card) computeSignature(cmd apdu.Command) apdu.Response {
	if cmd.P1 > 0x05 {
		return sw(apdu.SWIncorrectP1P2)
	}
	f, s := c.referencedEF(cmd.P2, efKey)
	if f == nil {
		return sw(s)
	}
	if len(cmd.Data) == 0 || cmd.Ne == 0 {
		return sw(apdu.SWWrongLength)
	}
	if !c.verified[f.keyPIN] {
		return sw(apdu.SWSecurityNotSatisfied)
	}
	k := f.key
	if cmd.Ne < k.Size() {
		return sw(apdu.SWWrongLength)
	}
	var (
		sig []byte
		err error
	)
	switch cmd.P1 {
	case 0x00: // data as given, typically a DigestInfo
		if len(cmd.Data) > k.Size()-11 {
			return sw(apdu.SWWrongLength)
		}
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.Hash(0), cmd.Data)
	case 0x01: // SHA-256 of the message, bare hash without DigestInfo
		h := sha256.Sum256(cmd.Data)
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.Hash(0), h[:])
	case 0x02: // a SHA-256 hash, wrapped in its DigestInfo
		if len(cmd.Data) != sha256.Size {
			return sw(apdu.SWWrongLength)
		}
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, cmd.Data)
	case 0x03: // message → SHA-256 → DigestInfo
		h := sha256.Sum256(cmd.Data)
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	case 0x04: // a SHA-256 hash, RSASSA-PSS
		if len(cmd.Data) != sha256.Size {
			return sw(apdu.SWWrongLength)
		}
		sig, err = rsa.SignPSS(c.opts.rand, k, crypto.SHA256, cmd.Data, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case 0x05: // message → SHA-256 → RSASSA-PSS
		h := sha256.Sum256(cmd.Data)
		sig, err = rsa.SignPSS(c.opts.rand, k, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	if c.opts.latency > 0 {
		c.opts.clock.Sleep(c.opts.latency)
	}
	return ok(sig)
}
