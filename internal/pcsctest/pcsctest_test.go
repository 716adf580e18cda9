package pcsctest_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/mynagate/mynagate/internal/pcsctest"
)

// Two daemons side by side must each see only their own readers and use distinct ports.
func TestStartPrivateDaemons(t *testing.T) {
	pcsctest.Require(t, "opensc-tool")
	var (
		wg sync.WaitGroup
		ds [2]*pcsctest.Daemon
	)
	for i := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); ds[i] = pcsctest.Start(t) }()
	}
	wg.Wait()
	if ds[0] == nil || ds[1] == nil {
		t.Fatal("a daemon did not start")
	}
	if ds[0].VPCDAddr == ds[1].VPCDAddr || ds[0].Socket == ds[1].Socket {
		t.Fatalf("daemons share an address: %+v %+v", ds[0], ds[1])
	}
	for _, d := range ds {
		out, err := d.Run(t, "opensc-tool", "--list-readers")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), pcsctest.ReaderName(0)) || !strings.Contains(string(out), pcsctest.ReaderName(1)) {
			t.Fatalf("readers not listed:\n%s", out)
		}
	}
	ds[0].Stop()
	if _, err := ds[0].Run(t, "opensc-tool", "--list-readers"); err == nil {
		// opensc-tool exits 0 with "No smart card readers found" only when pcscd answers;
		// with the daemon gone it must not list the readers.
		out, _ := ds[0].Run(t, "opensc-tool", "--list-readers")
		if strings.Contains(string(out), pcsctest.ReaderName(0)) {
			t.Fatal("stopped daemon still lists readers")
		}
	}
	if out, err := ds[1].Run(t, "opensc-tool", "--list-readers"); err != nil || !strings.Contains(string(out), pcsctest.ReaderName(0)) {
		t.Fatalf("second daemon affected by stopping the first: %v\n%s", err, out)
	}
}
