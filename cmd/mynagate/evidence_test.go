package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mynagate/mynagate/platform"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestEvidenceScripts runs the evidence command scenarios in testdata/evidence against files
// made by a log in memory: a bundle and altered copies, consistency bundles (honest and from a
// fork), an export, the log's key and another log's.
func TestEvidenceScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/evidence",
		Setup: func(env *testscript.Env) error {
			return writeEvidenceFixtures(env.T().(testing.TB), env.WorkDir)
		},
	})
}

func writeEvidenceFixtures(t testing.TB, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	write := func(name string, b []byte) error { return os.WriteFile(filepath.Join(dir, name), b, 0o644) }
	fill := func(l *evidence.Log, s evidencetest.Storage, from, n int) (*evidence.StoredCheckpoint, error) {
		for i := from; i < from+n; i++ {
			if _, err := evidencetest.Append(ctx, l, s, evidencetest.Entry(i, "t_0123456789abcdef")); err != nil {
				return nil, err
			}
		}
		return l.Publish(ctx)
	}
	ls, forks := memory.New(), memory.New()
	l := evidencetest.NewLog(t, ls)
	fork := evidencetest.NewLog(t, forks) // same key, another history
	old, err := fill(l, ls, 0, 5)
	if err != nil {
		return err
	}
	if _, err := fill(fork, forks, 0, 5); err != nil {
		return err
	}
	if _, err := fill(l, ls, 5, 7); err != nil {
		return err
	}
	forkCP, err := fill(fork, forks, 100, 5)
	if err != nil {
		return err
	}
	b, err := l.Bundle(ctx, "t_0123456789abcdef", evidencetest.Entry(3, "t_0123456789abcdef").ID, true)
	if err != nil {
		return err
	}
	bundle, _ := b.Marshal()
	tampered := bytes.Clone(bundle)
	tampered[bytes.Index(tampered, []byte(`"leaf":"`))+20] ^= 0x01
	cb, err := l.ConsistencyBundle(ctx, 5)
	if err != nil {
		return err
	}
	consistency, _ := cb.Marshal()
	// The fork's checkpoint at 10 presented as the older one, with the honest log's proof from 10.
	p, err := l.ConsistencyProof(ctx, 10, 12)
	if err != nil {
		return err
	}
	forked := *cb
	forked.Older, forked.Proof = string(forkCP.Note), p
	forkedData, _ := forked.Marshal()
	var export bytes.Buffer
	if _, err := l.Export(ctx, &export, evidence.ExportQuery{TenantID: "t_0123456789abcdef", From: evidencetest.Base, To: evidencetest.Base.Add(time.Hour), Disclose: true}, nil); err != nil {
		return err
	}
	other, err := evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin)
	if err != nil {
		return err
	}
	// A platform database with 30 entries of two tenants, with the keys in data/evidence as the
	// platform keeps them.
	keys, err := evidence.LoadKeys(filepath.Join(dir, "data", "evidence"), evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "platform.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, id := range []string{"t_a", "t_b"} {
		if err := st.CreateTenant(ctx, platform.Tenant{ID: id, Name: "Tenant " + id, CreatedAt: evidencetest.Base}); err != nil {
			return err
		}
	}
	pl, err := evidence.New(st, keys)
	if err != nil {
		return err
	}
	for i := 0; i < 30; i++ {
		if _, err := storetest.Append(ctx, st, pl, evidencetest.Entry(i, []string{"t_a", "t_b"}[i%2])); err != nil {
			return err
		}
	}
	kept, err := pl.Publish(ctx)
	if err != nil {
		return err
	}
	// A bundle as a tenant allowed only the name gets it: the sub and the name disclosed one by
	// one, not the certificate or the other facts.
	lb, err := pl.BundleFor(ctx, "t_a", evidencetest.Entry(0, "t_a").ID, evidence.Disclosure{Items: []string{evidence.ItemSubject, evidence.FactItem("name")}})
	if err != nil {
		return err
	}
	limited, _ := lb.Marshal()
	// Another database of the same log whose latest checkpoint (size 15, which a witness kept)
	// was deleted afterwards.
	rb, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "rolledback.db"))
	if err != nil {
		return err
	}
	defer rb.Close()
	if err := rb.CreateTenant(ctx, platform.Tenant{ID: "t_a", Name: "Tenant t_a", CreatedAt: evidencetest.Base}); err != nil {
		return err
	}
	rl, err := evidence.New(rb, keys)
	if err != nil {
		return err
	}
	var witnessed *evidence.StoredCheckpoint
	for _, n := range []int{10, 15} {
		for i := 0; i < 5+5*(n/15); i++ {
			if _, err := storetest.Append(ctx, rb, rl, evidencetest.Entry(1000+n*100+i, "t_a")); err != nil {
				return err
			}
		}
		if witnessed, err = rl.Publish(ctx); err != nil {
			return err
		}
	}
	rb.Close()
	raw, err := sql.Open("sqlite", filepath.Join(dir, "rolledback.db"))
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `DELETE FROM evidence_checkpoints WHERE size = $1`, int64(witnessed.Size)); err != nil {
		return err
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, bundle, "", "  ")
	for name, content := range map[string][]byte{
		"log.pub": []byte(l.PublicKey().String() + "\n"), "other.pub": []byte(other.Public.String() + "\n"),
		"bundle.json": bundle, "tampered.json": tampered, "pretty.json": pretty.Bytes(),
		"consistency.json": consistency, "forked.json": forkedData, "old.note": old.Note,
		"export.jsonl": export.Bytes(), "limited.json": limited, "kept.note": kept.Note, "witnessed.note": witnessed.Note,
	} {
		if err := write(name, content); err != nil {
			return err
		}
	}
	return nil
}
