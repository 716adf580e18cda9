package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/gate/staff"
	"github.com/spf13/cobra"
)

// staffFlags are the flags of a lane's or a kiosk's staff page.
type staffFlags struct {
	listen, tokenFile, tlsCert, tlsKey string
}

func (f *staffFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "listen", "", "serve the staff page for a tablet at this address (host:port)")
	cmd.Flags().StringVar(&f.tokenFile, "staff-token-file", "", "file holding the staff sign-in code (default: a fresh one, printed on stderr)")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate for the staff page (needed off loopback: the session cookie is Secure)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
}

// start serves the staff page on --listen with a new board (nil, and a stop that does
// nothing, without --listen); stop shuts it down.
func (f *staffFlags) start(cmd *cobra.Command, c staff.Config) (*staff.Board, func(), error) {
	if f.listen == "" {
		return nil, func() {}, nil
	}
	c.Board = staff.NewBoard(c.Clock)
	stop, err := f.serve(cmd, c)
	return c.Board, stop, err
}

// serve starts the staff page on f.listen; stop shuts it down.
func (f *staffFlags) serve(cmd *cobra.Command, c staff.Config) (stop func(), err error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--staff-token-file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
	} else if c.Token, err = staff.Token(rand.Reader); err != nil {
		return nil, err
	}
	s, err := staff.New(c)
	if err != nil {
		return nil, fmt.Errorf("--staff-token-file: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "staff page: %s://%s/\n", scheme, ln.Addr())
	if f.tokenFile == "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "staff sign-in code: %s\n", c.Token)
	}
	go func() {
		var err error
		if f.tlsCert != "" {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(cmd.ErrOrStderr(), "staff page: %v\n", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
