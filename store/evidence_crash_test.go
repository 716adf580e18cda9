package store_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/store"
)

// crashChildEnv makes the test binary run crashChild instead of the tests.
const crashChildEnv = "MYNAGATE_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild is one life of a log node: it appends entries from 32 writers as fast as it can,
// with the integrator and checkpoint publisher running, and reports on stdout every append that
// returned success ("ok ID") and every checkpoint it published ("cp BASE64-NOTE"), as a client
// and a witness would see them. It runs until it is killed.
func crashChild(dir string) {
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "evidence.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	keys, err := evidence.LoadKeys(filepath.Join(dir, "keys"), evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := evidence.New(s, keys, evidence.WithIntervals(2*time.Millisecond, 15*time.Millisecond, time.Hour), evidence.WithBatchSize(64))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	base, _ := strconv.Atoi(os.Getenv(crashChildEnv + "_BASE"))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(line + "\n")
		out.Flush()
	}
	ctx := context.Background()
	go l.Run(ctx)
	go func() {
		last := uint64(0)
		for {
			time.Sleep(10 * time.Millisecond)
			cp, err := s.LatestCheckpoint(ctx)
			if err == nil && cp.Size > last {
				last = cp.Size
				say("cp " + base64.StdEncoding.EncodeToString(cp.Note))
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := base + w; ; i += 32 {
				e := evidencetest.Entry(i, "t_crash")
				if _, err := evidencetest.Append(ctx, l, s, e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				say("ok " + e.ID)
			}
		}()
	}
	wg.Wait()
}

// TestEvidenceCrashRecovery kills a node of the evidence log on an SQLite store with SIGKILL at random moments, 20 times, while it appends,
// integrates and publishes. After every restart: each append the node acknowledged is stored,
// the audit recomputes the tree to the last checkpoint, and every checkpoint ever seen is a
// prefix of the final tree.
func TestEvidenceCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	acked := map[string]bool{}
	var seen [][]byte
	const runs = 20
	for run := 0; run < runs; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s_BASE=%d", crashChildEnv, run*10_000_000))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<20)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill at a random moment 10–250 ms into the load (after the first acknowledgement).
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("run %d: the node died at start: %s", run, stderr.String())
		}
		wait, _ := rand.Int(rand.Reader, big.NewInt(240))
		time.Sleep(time.Duration(10+wait.Int64()) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL: no deferred function, no final checkpoint
		record := func(line string) {
			switch {
			case strings.HasPrefix(line, "ok "):
				acked[line[3:]] = true
			case strings.HasPrefix(line, "cp "):
				note, err := base64.StdEncoding.DecodeString(line[3:])
				if err != nil {
					t.Fatalf("run %d: %q", run, line)
				}
				seen = append(seen, note)
			}
		}
		record(first)
		for line := range lines {
			record(line)
		}
		cmd.Wait()
		if strings.Contains(stderr.String(), "evidence:") {
			t.Fatalf("run %d: the node failed: %s", run, stderr.String())
		}
	}
	if len(acked) < runs || len(seen) < runs/2 {
		t.Fatalf("only %d appends and %d checkpoints were seen in %d runs: the nodes did not get going", len(acked), len(seen), runs)
	}

	c := context.Background()
	s, err := store.Open(c, "sqlite:"+filepath.Join(dir, "evidence.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := evidence.LoadKeys(filepath.Join(dir, "keys"), evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.New(s, keys)
	if err != nil {
		t.Fatal(err)
	}
	final, err := l.Publish(c)
	if err != nil {
		t.Fatal(err)
	}
	for id := range acked {
		e, err := s.Entry(c, id)
		if err != nil {
			t.Fatalf("acknowledged append %s is lost: %v", id, err)
		}
		if !e.Sequenced {
			t.Fatalf("acknowledged append %s is not integrated after recovery", id)
		}
	}
	rep, err := l.Audit(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Latest == nil || rep.Latest.Size != final.Size || rep.Root != final.Root {
		t.Fatalf("the recomputed tree (%d, %x) is not the last checkpoint (%d, %x)", rep.Size, rep.Root, final.Size, final.Root)
	}
	finalCP, err := evidence.ParseCheckpoint(final.Note, keys.Public)
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range seen {
		cp, err := evidence.ParseCheckpoint(note, keys.Public)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.ConsistencyProof(c, cp.Size, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := evidence.CheckConsistency(cp, finalCP, p); err != nil {
			t.Fatalf("a checkpoint seen before a crash is contradicted: %v", err)
		}
	}
	t.Logf("%d runs killed: %d appends acknowledged, %d in the tree, %d checkpoints seen and stored %d, all consistent",
		runs, len(acked), rep.Size, len(seen), rep.Checkpoints)
}
