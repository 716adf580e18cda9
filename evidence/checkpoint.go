package evidence

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is the body of a C2SP checkpoint (https://c2sp.org/tlog-checkpoint): the log's
// origin, a tree size and the root hash at that size.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
}

// body returns the note text of a checkpoint: three lines, no extension lines.
func (c Checkpoint) body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// parseCheckpointBody parses a checkpoint's note text. Extension lines, which the format allows
// after the root hash, are accepted and ignored (the signature covers them).
func parseCheckpointBody(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("the checkpoint has fewer than three lines")
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return Checkpoint{}, errors.New("the checkpoint's origin line is empty")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("the checkpoint's size line %q is not a decimal number", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return Checkpoint{}, fmt.Errorf("the checkpoint's root line %q is not a base64 SHA-256 hash", lines[2])
	}
	c.Root = [32]byte(root)
	return c, nil
}

// signCheckpoint signs a checkpoint as a note.
func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.body()}, s)
}

// PublicKey is a log's verifier key in the signed-note format ("origin+hash+base64"), the text
// an auditor is given out of band and passes to the verifier.
type PublicKey struct {
	text string
	v    note.Verifier
}

// ParsePublicKey parses a signed-note verifier key (Ed25519). Surrounding white space is ignored,
// so the content of a key file can be passed as is.
func ParsePublicKey(s string) (*PublicKey, error) {
	s = strings.TrimSpace(s)
	v, err := note.NewVerifier(s)
	if err != nil {
		return nil, fmt.Errorf("evidence: %q is not a signed-note verifier key (name+hash+base64): %w", s, err)
	}
	return &PublicKey{text: s, v: v}, nil
}

// String returns the key in its text form.
func (k *PublicKey) String() string { return k.text }

// Origin returns the name of the key, which is the origin of the log's checkpoints.
func (k *PublicKey) Origin() string { return k.v.Name() }

// ID returns "name+hash" (the key hash as 8 hex digits), how signature lines name the key.
func (k *PublicKey) ID() string { return fmt.Sprintf("%s+%08x", k.v.Name(), k.v.KeyHash()) }

// openNote verifies a signed note with the trusted key and returns its text.
func openNote(msg []byte, key *PublicKey, what string) (string, error) {
	n, err := note.Open(msg, note.VerifierList(key.v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var signers []string
		for _, s := range unverified.Note.UnverifiedSigs {
			signers = append(signers, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return "", verifyErr(ReasonWrongKey, "the %s is not signed by the trusted key %s (it is signed by %s): it comes from another log or the key is wrong",
			what, key.ID(), strings.Join(signers, ", "))
	case errors.As(err, &invalid):
		return "", verifyErr(ReasonBadSignature, "the signature of the %s by %s is invalid: it was altered", what, key.ID())
	case err != nil:
		return "", &VerifyError{Reason: ReasonMalformed, Detail: fmt.Sprintf("the %s is not a well-formed signed note", what), Err: err}
	}
	if err := canonicalSignatures(msg[len(n.Text)+1:]); err != nil {
		return "", &VerifyError{Reason: ReasonMalformed, Detail: fmt.Sprintf("the %s has a signature line that is not in canonical form: it was altered", what), Err: err}
	}
	return n.Text, nil
}

// openCheckpoint verifies a signed checkpoint with the trusted key and parses it. Its origin
// MUST be the key's name.
func openCheckpoint(msg []byte, key *PublicKey, what string) (Checkpoint, error) {
	text, err := openNote(msg, key, what)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := parseCheckpointBody(text)
	if err != nil {
		return Checkpoint{}, &VerifyError{Reason: ReasonMalformed, Detail: fmt.Sprintf("the %s is signed but not a checkpoint", what), Err: err}
	}
	if c.Origin != key.Origin() {
		return Checkpoint{}, verifyErr(ReasonWrongOrigin, "the %s is for log %q, the trusted key is for %q", what, c.Origin, key.Origin())
	}
	return c, nil
}

// canonicalSignatures checks that every signature line of a note ("— name base64\n") carries
// canonical base64. note.Open decodes leniently, so a signature whose unused padding bits were
// changed would still verify: the note's bytes would differ while its meaning would not.
func canonicalSignatures(sigs []byte) error {
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		_, b64, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
			return fmt.Errorf("signature %q is not canonical base64", b64)
		}
	}
	return nil
}

// publicKeyOf derives the verifier key of a signed-note Ed25519 private key
// ("PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)").
func publicKeyOf(skey string) (*PublicKey, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, errors.New("evidence: not a signed-note private key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("evidence: not a signed-note Ed25519 private key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return ParsePublicKey(vkey)
}
