// Package pcsctest starts a private pcscd with vsmartcard's virtual reader for one test, so
// that test packages running in parallel never share (or kill) each other's daemon.
//
// It owns the daemon's life cycle and the environment client tools need to reach it. It does
// not own cards: a test connects a card (package card/vpcd) to Daemon.VPCDAddr itself.
//
// # How a private pcscd is possible
//
// pcscd 1.9 hard-codes its client socket (/run/pcscd/pcscd.comm) and ignores
// PCSCLITE_CSOCK_NAME, which only the client library honours. It does, however, accept a
// listening socket from systemd socket activation (LISTEN_FDS/LISTEN_PID, sd_listen_fds), and in
// that mode it neither checks for nor removes the default socket. Start therefore creates a unix
// socket in t.TempDir(), hands it to pcscd as fd 3, and points pcscd at its own reader.conf.d
// (-c) whose only reader is vpcd on a free port. vpcd opens two slots, on port and port+1;
// Start waits until the pcscd it started listens on both (checked through /proc, so a port
// taken by someone else's vpcd is detected and another port is tried).
//
// Clients reach the daemon with PCSCLITE_CSOCK_NAME=Daemon.Socket (libpcsclite, hence OpenSC
// and its PKCS#11 module) or by dialing Daemon.Socket directly (go-libpcsclite's
// EstablishContext takes the path). Daemon.Env returns an environment that also isolates
// OpenSC from the machine's configuration and cache.
//
// One side effect remains shared: pcscd writes and, on exit, removes /run/pcscd/pcscd.pid.
// That file only serves `pcscd --hotplug`; a system pcscd keeps working without it.
//
// Under CI=true a missing pcscd, vpcd driver or OpenSC tool fails the test (t.Fatal); otherwise
// the test is skipped with the reason.
package pcsctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// VPCDDriver is the vsmartcard IFD handler Debian installs.
const VPCDDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

// pkcs11Candidates are the places Debian and others put OpenSC's PKCS#11 module.
var pkcs11Candidates = []string{
	"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
	"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/opensc-pkcs11.so",
	"/usr/lib64/opensc-pkcs11.so",
	"/usr/local/lib/opensc-pkcs11.so",
}

// Daemon is a running private pcscd.
type Daemon struct {
	// Socket is the path of pcscd's client socket (PCSCLITE_CSOCK_NAME).
	Socket string
	// VPCDAddr is where vpcd waits for a virtual card in its first slot ("127.0.0.1:port");
	// that slot's reader is named ReaderName(0).
	VPCDAddr string
	// VPCDAddr2 is the second slot (port+1), reader ReaderName(1).
	VPCDAddr2 string
	// Dir is the daemon's private directory (config, socket, log).
	Dir string
	// LogPath is pcscd's log (debug level, APDUs included).
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	base string
	port int
}

// ReaderName returns the PC/SC name of vpcd's slot i (0 or 1) as pcscd reports it.
func ReaderName(slot int) string { return fmt.Sprintf("Virtual PCD 00 %02d", slot) }

// inCI reports whether tests must fail instead of skipping when a tool is missing.
func inCI() bool { return os.Getenv("CI") == "true" }

// missing fails the test under CI and skips it otherwise.
func missing(t testing.TB, what string) {
	t.Helper()
	if inCI() {
		t.Fatalf("pcsctest: %s is required under CI=true", what)
	}
	t.Skipf("pcsctest: %s not available; skipping (install pcscd, vsmartcard-vpcd and opensc)", what)
}

// Require checks that the named programs are on PATH (and, for "opensc-pkcs11.so", that the
// PKCS#11 module exists), failing under CI and skipping otherwise.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if tool == "opensc-pkcs11.so" {
			if PKCS11Module() == "" {
				missing(t, "OpenSC's PKCS#11 module (opensc-pkcs11.so)")
			}
			continue
		}
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool)
		}
	}
}

// PKCS11Module returns the path of OpenSC's PKCS#11 module, or "" when none is installed.
func PKCS11Module() string {
	for _, p := range pkcs11Candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a private pcscd with one vpcd reader on free loopback ports and stops it in
// t.Cleanup. If the test fails, the tail of pcscd's log is printed.
func Start(t testing.TB) *Daemon {
	t.Helper()
	Require(t, "pcscd")
	if _, err := os.Stat(VPCDDriver); err != nil {
		missing(t, "the vpcd driver "+VPCDDriver+" (vsmartcard-vpcd)")
	}
	d, err := StartDaemon()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("pcsctest: tail of pcscd log %s:\n%s", d.LogPath, d.LogTail(60))
		}
		os.RemoveAll(d.base)
	})
	return d
}

// StartDaemon is Start for harnesses without a testing.TB (testscript's Setup): the caller
// checks for the tools, and must call Close.
func StartDaemon() (*Daemon, error) {
	if _, err := exec.LookPath("pcscd"); err != nil {
		return nil, fmt.Errorf("pcsctest: %w", err)
	}
	if _, err := os.Stat(VPCDDriver); err != nil {
		return nil, fmt.Errorf("pcsctest: vpcd driver: %w", err)
	}
	base, err := os.MkdirTemp("", "pcsctest-")
	if err != nil {
		return nil, fmt.Errorf("pcsctest: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 6; attempt++ {
		d, err := start(base, attempt)
		if err == nil {
			d.base = base
			return d, nil
		}
		lastErr = err
	}
	os.RemoveAll(base)
	return nil, fmt.Errorf("pcsctest: could not start a private pcscd: %w", lastErr)
}

// Close stops pcscd and removes its directory.
func (d *Daemon) Close() {
	d.Stop()
	os.RemoveAll(d.base)
}

func start(base string, attempt int) (*Daemon, error) {
	dir := filepath.Join(base, strconv.Itoa(attempt))
	confDir := filepath.Join(dir, "reader.conf.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, fmt.Errorf("pcsctest: %w", err)
	}
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   /dev/null:0x%04X\nLIBPATH      %s\nCHANNELID    0x%04X\n",
		port, VPCDDriver, port)
	if err := os.WriteFile(filepath.Join(confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("pcsctest: %w", err)
	}
	d := &Daemon{
		Socket:    filepath.Join(dir, "pcscd.comm"),
		VPCDAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		VPCDAddr2: net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)),
		Dir:       dir,
		LogPath:   filepath.Join(dir, "pcscd.log"),
		port:      port,
	}
	if err := d.launch(); err != nil {
		return nil, err
	}
	return d, nil
}

// launch starts pcscd on the daemon's socket, config and ports and waits until vpcd listens.
func (d *Daemon) launch() error {
	os.Remove(d.Socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: d.Socket, Net: "unix"})
	if err != nil {
		return fmt.Errorf("pcsctest: listen on %s: %w", d.Socket, err)
	}
	ln.SetUnlinkOnClose(false)
	lnFile, err := ln.File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("pcsctest: %w", err)
	}
	defer lnFile.Close()
	logFile, err := os.OpenFile(d.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pcsctest: %w", err)
	}
	defer logFile.Close()
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	pcscd, err := exec.LookPath("pcscd")
	if err != nil {
		return fmt.Errorf("pcsctest: %w", err)
	}
	// sd_listen_fds checks LISTEN_PID against getpid(), which is unknown before the fork: a
	// shell records its own pid and execs pcscd, which keeps it.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, pcscd,
		"--foreground", "--debug", "--apdu", "--config", filepath.Join(d.Dir, "reader.conf.d"))
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{lnFile} // fd 3 = SD_LISTEN_FDS_START
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pcsctest: start pcscd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	d.cmd, d.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("pcsctest: pcscd exited at start: %s", d.LogTail(10))
		default:
		}
		ports := listeningPorts(cmd.Process.Pid)
		if ports[d.port] && ports[d.port+1] {
			return nil
		}
		log := mustRead(d.LogPath)
		if int64(len(log)) > logStart {
			log = log[logStart:]
		}
		if bytes.Contains(log, []byte("Could not initialize connection to virtual ICC")) || time.Now().After(deadline) {
			d.Stop()
			return fmt.Errorf("pcsctest: vpcd did not listen on ports %d and %d", d.port, d.port+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops pcscd and starts it again on the same socket path and vpcd ports, as a system
// pcscd restarting would; cards connected to vpcd lose their connection.
func (d *Daemon) Restart() error {
	d.Stop()
	return d.launch()
}

// Stop terminates pcscd (SIGTERM, then SIGKILL after two seconds) and waits for it.
func (d *Daemon) Stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(2 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// Env returns os.Environ() with PCSCLITE_CSOCK_NAME set to the private socket, and OpenSC
// pointed at a private configuration (no file caching) and a private HOME, so that the
// machine's OpenSC settings and cache never leak into a test.
func (d *Daemon) Env() []string {
	conf := filepath.Join(d.Dir, "opensc.conf")
	if _, err := os.Stat(conf); err != nil {
		os.WriteFile(conf, []byte("app default {\n\tframework pkcs15 {\n\t\tuse_file_caching = no;\n\t}\n}\n"), 0o644)
	}
	home := filepath.Join(d.Dir, "home")
	os.MkdirAll(home, 0o700)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PCSCLITE_CSOCK_NAME", "OPENSC_CONF", "HOME", "XDG_CACHE_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"PCSCLITE_CSOCK_NAME="+d.Socket,
		"OPENSC_CONF="+conf,
		"HOME="+home,
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
	)
}

// Command returns an exec.Cmd for a client tool (opensc-tool, pkcs15-tool, pkcs11-tool, …)
// that talks to this daemon.
func (d *Daemon) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.Env()
	cmd.WaitDelay = time.Second
	return cmd
}

// Run runs a client tool with a 60-second limit and returns its standard output. A non-zero
// exit is returned as an error that includes standard error.
func (d *Daemon) Run(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := d.Command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("pcsctest: %s %s: %w\nstdout: %s\nstderr: %s",
			name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// LogTail returns the last n lines of pcscd's log.
func (d *Daemon) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(string(mustRead(d.LogPath)), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// freePortPair finds a port p such that p and p+1 can both be bound on all interfaces (vpcd
// binds INADDR_ANY). The ports are released again; Start verifies that pcscd got them.
func freePortPair() (int, error) {
	for i := 0; i < 50; i++ {
		l1, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pcsctest: %w", err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l1.Close()
		if p >= 65535 {
			continue
		}
		a, err := net.Listen("tcp4", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp4", ":"+strconv.Itoa(p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, errors.New("pcsctest: no free pair of TCP ports")
}

// listeningPorts returns the TCP ports on which process pid holds a listening socket, by
// matching the socket inodes of /proc/pid/fd against /proc/net/tcp{,6}.
func listeningPorts(pid int) map[int]bool {
	inodes := map[string]bool{}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(fdDir)
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = TCP_LISTEN
				continue
			}
			if !inodes[fields[9]] {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports[int(p)] = true
			}
		}
		fh.Close()
	}
	return ports
}
