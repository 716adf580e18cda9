package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// DefaultOrigin is the origin line of the log's checkpoints, and the name of its signing key,
// unless configured otherwise. A real deployment uses its own domain.
const DefaultOrigin = "mynagate.example/evidence"

// Files of the key directory (LoadKeys).
const (
	SigningKeyFile = "log.key"    // the signed-note Ed25519 private key; secret
	PublicKeyFile  = "log.pub"    // its verifier key; give it to auditors
	MasterKeyFile  = "master.key" // 32 random bytes wrapping data keys; secret
)

// Keys are the log's keys: the checkpoint signing key and its public key, and the keyring of
// master keys that wrap data keys.
type Keys struct {
	Signer note.Signer
	Public *PublicKey
	Wrap   *Keyring
}

// GenerateKeys draws new keys for a log whose checkpoints carry origin.
func GenerateKeys(rand io.Reader, origin string) (*Keys, error) {
	skey, _, err := note.GenerateKey(rand, origin)
	if err != nil {
		return nil, fmt.Errorf("evidence: generate signing key for %q: %w", origin, err)
	}
	master := make([]byte, 32)
	if _, err := io.ReadFull(rand, master); err != nil {
		return nil, fmt.Errorf("evidence: draw master key: %w", err)
	}
	return keysFrom(skey, master)
}

func keysFrom(skey string, master []byte) (*Keys, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("evidence: signing key: %w", err)
	}
	pub, err := publicKeyOf(skey)
	if err != nil {
		return nil, err
	}
	kr, err := NewKeyring(master)
	if err != nil {
		return nil, err
	}
	return &Keys{Signer: signer, Public: pub, Wrap: kr}, nil
}

// LoadKeys reads the log's keys from dir, creating the directory and the keys on first use:
// log.key (the checkpoint signing key, for origin), master.key (the data-key wrapping key) and
// log.pub (the public key, rewritten from log.key if missing). Every node of one log MUST share
// these files. Files are created atomically, so nodes starting together agree on one set. A
// log.key for another origin is refused.
func LoadKeys(dir, origin string, rand io.Reader) (*Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("evidence: key directory: %w", err)
	}
	skey, err := readOrCreate(filepath.Join(dir, SigningKeyFile), 0o600, func() ([]byte, error) {
		s, _, err := note.GenerateKey(rand, origin)
		return []byte(s + "\n"), err
	})
	if err != nil {
		return nil, err
	}
	master, err := readOrCreate(filepath.Join(dir, MasterKeyFile), 0o600, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := io.ReadFull(rand, b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	k, err := keysFrom(strings.TrimSpace(string(skey)), master)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	if k.Public.Origin() != origin {
		return nil, fmt.Errorf("evidence: %s is the key of log %q, not %q", filepath.Join(dir, SigningKeyFile), k.Public.Origin(), origin)
	}
	pubPath := filepath.Join(dir, PublicKeyFile)
	pub, err := readOrCreate(pubPath, 0o644, func() ([]byte, error) { return []byte(k.Public.String() + "\n"), nil })
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(pub)) != k.Public.String() {
		return nil, fmt.Errorf("evidence: %s does not match %s", pubPath, SigningKeyFile)
	}
	return k, nil
}

// readOrCreate returns the content of path, creating it with gen() and mode if it does not
// exist. The new file is written in full under a temporary name and then linked into place,
// which fails if another process created it first; then that process's file is read.
func readOrCreate(path string, mode os.FileMode, gen func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("evidence: read %s: %w", path, err)
	}
	content, err := gen()
	if err != nil {
		return nil, fmt.Errorf("evidence: generate %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return nil, fmt.Errorf("evidence: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("evidence: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("evidence: create %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("evidence: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("evidence: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("evidence: read %s: %w", path, err)
		}
		return b, nil
	} else if err != nil {
		return nil, fmt.Errorf("evidence: create %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return bytes.Clone(content), nil
}
