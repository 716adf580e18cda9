package e2e

import (
	"bufio"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/store"
)

// crashRounds is how many times the server is killed with SIGKILL under load.
const crashRounds = 20

// TestServerKilledUnderLoad runs the real `mynagate serve` (SQLite, J-LIS over HTTP) under a
// load of verifications and kills it with SIGKILL at random moments, crashRounds times. Then,
// after one clean restart and shutdown: every verification the client saw succeed has its
// verification row and its evidence entry in the tree, the tree recomputes to the last signed
// checkpoint (evidence.Log.Audit), and every checkpoint the client saw during the rounds is a
// prefix of the final tree with the same root — no signed checkpoint was contradicted.
func TestServerKilledUnderLoad(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds the binary and kills it 20 times; runs unless -short, and always under CI")
	}
	dir := t.TempDir()
	bin := buildMynagate(t)
	// J-LIS on the real clock: the server checks CRL and OCSP freshness against it.
	sim, _, _ := testkit.Simulator(t, jlis.WithClock(clockwork.NewRealClock()))
	jsrv := httptest.NewServer(sim.Handler())
	defer jsrv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	k, err := x509.ParsePKCS8PrivateKey(iss.Card.Auth.Key)
	if err != nil {
		t.Fatal(err)
	}
	authKey := k.(*rsa.PrivateKey)

	db := "sqlite:" + filepath.Join(dir, "platform.db")
	data := filepath.Join(dir, "data")
	run := func(args ...string) []byte {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("mynagate %v: %v", args, err)
		}
		return out
	}
	var ten struct{ ID string }
	json.Unmarshal(run("tenant", "create", "--init", "--db", db, "--name", "Crash Bank", "--json"), &ten)
	var key struct{ Key string }
	json.Unmarshal(run("apikey", "create", "--db", db, "--tenant", ten.ID, "--json"), &key)
	if ten.ID == "" || key.Key == "" {
		t.Fatal("tenant or key not created")
	}

	// start runs the server and returns its base URL and process.
	start := func() (string, *exec.Cmd) {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--db", db, "--jlis", jsrv.URL, "--insecure-jlis", "--data", data, "--addr", "127.0.0.1:0", "--crl-interval", "1s",
			"--rate-limit-tenant-sessions", "0", "--rate-limit-ip-sessions", "0", "--rate-limit-ip-holder", "0") // a load test, not a flood
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("server did not start: %v", err)
		}
		go io.Copy(io.Discard, stdout)
		_, rest, _ := strings.Cut(line, "http://")
		addr, _, _ := strings.Cut(rest, " ")
		return "http://" + addr, cmd
	}

	var (
		mu    sync.Mutex
		acked []string            // verification ids the client saw accepted
		seen  = map[string]bool{} // checkpoint notes seen
	)
	// verifyOnce runs one login verification against base.
	verifyOnce := func(rp *client.Client) error {
		s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "login"})
		if err != nil {
			return err
		}
		b, id, tok, err := client.ParseHolderURL(s.HolderURL)
		if err != nil {
			return err
		}
		hc := client.New(b, client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
		ch, err := hc.FetchUncheckedChallenge(ctx, id, tok)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(ch.Challenge)
		sig, err := rsa.SignPKCS1v15(nil, authKey, crypto.SHA256, sum[:])
		if err != nil {
			return err
		}
		res, err := hc.Answer(ctx, id, tok, iss.Card.Auth.Cert, sig)
		if err != nil {
			return err
		}
		if res.Decision != "accepted" {
			return fmt.Errorf("verification %s: %s", res.VerificationID, res.Decision)
		}
		mu.Lock()
		acked = append(acked, res.VerificationID)
		mu.Unlock()
		return nil
	}
	// checkpoint asks for the bundle of the latest acknowledged verification (which makes the
	// log sign a checkpoint covering it) and records the latest checkpoint.
	checkpoint := func(base string) {
		mu.Lock()
		last := ""
		if len(acked) > 0 {
			last = acked[len(acked)-1]
		}
		mu.Unlock()
		for i := 0; last != "" && i < 10; i++ {
			req, _ := http.NewRequest("GET", base+"/v1/evidence/"+last, nil)
			req.Header.Set("Authorization", "Bearer "+key.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				break
			}
			time.Sleep(30 * time.Millisecond)
		}
		resp, err := http.Get(base + "/v1/evidence/checkpoint")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			mu.Lock()
			seen[string(b)] = true
			mu.Unlock()
		}
	}

	rng := mrand.New(mrand.NewPCG(1, 2))
	for round := 0; round < crashRounds; round++ {
		base, cmd := start()
		rp := client.New(base, client.WithAPIKey(key.Key), client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := verifyOnce(rp); err != nil {
						return // the server died under us: expected
					}
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		checkpoint(base)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	if len(acked) < crashRounds {
		t.Fatalf("only %d verifications succeeded in %d rounds: the load did not run", len(acked), crashRounds)
	}

	// One clean run: pending entries are integrated; SIGTERM publishes a last checkpoint.
	base, cmd := start()
	rp := client.New(base, client.WithAPIKey(key.Key))
	if err := verifyOnce(rp); err != nil {
		t.Fatalf("after the crashes: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}

	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := evidence.LoadKeys(filepath.Join(data, "evidence"), evidence.DefaultOrigin, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, err := evidence.New(st, keys)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := log.Audit(ctx, nil)
	if err != nil {
		t.Fatalf("audit after %d kills: %v", crashRounds, err)
	}
	if rep.Latest == nil || rep.Latest.Size != rep.Size {
		t.Errorf("the last checkpoint does not cover the tree: %+v", rep)
	}
	for _, id := range acked {
		if _, err := st.Verification(ctx, ten.ID, id); err != nil {
			t.Errorf("acknowledged verification %s lost: %v", id, err)
		}
		e, err := st.Entry(ctx, id)
		if err != nil || !e.Sequenced {
			t.Errorf("acknowledged verification %s has no evidence in the tree: %+v %v", id, e, err)
		}
	}
	for note := range seen {
		lines := strings.Split(note, "\n")
		var size uint64
		fmt.Sscan(lines[1], &size)
		cb, err := log.ConsistencyBundle(ctx, size)
		if err != nil {
			t.Errorf("checkpoint of size %d seen during the rounds: %v", size, err)
			continue
		}
		data, _ := cb.Marshal()
		older, _, err := evidence.VerifyConsistency(data, keys.Public)
		if err != nil || !strings.HasPrefix(note, strings.Join(lines[:3], "\n")) || fmt.Sprintf("%x", older.Root) != fmt.Sprintf("%x", mustRoot(t, lines[2])) {
			t.Errorf("checkpoint of size %d seen during the rounds is contradicted by the final tree: %v", size, err)
		}
	}
	t.Logf("%d rounds: %d acknowledged verifications, tree of %d entries, %d checkpoints seen", crashRounds, len(acked), rep.Size, len(seen))
}

// mustRoot decodes the base64 root hash line of a checkpoint note.
func mustRoot(t *testing.T, line string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(b) != 32 {
		t.Fatalf("checkpoint root line %q", line)
	}
	return b
}
