package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/ticket"
)

// The gate manifest of `ticket serve`: --gate-manifest-key signs manifests, --gate-ca names the
// J-LIS authentication CA certificates (files, read at start) and --gate-crl their CRLs (files or
// http(s) URLs such as the J-LIS simulator's public CRL, read again at each download so the
// snapshot is fresh).

const maxCRLSize = 64 << 20

// readDERorPEM reads a DER file or the first PEM block of type typ.
func readDERorPEM(b []byte, typ string) []byte {
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == typ {
		return blk.Bytes
	}
	return b
}

// gateOption builds the ticket.WithGate option from the flags; nil when no gate flag is set.
func gateOption(keyFile string, caFiles, crlSources []string, validity time.Duration) (ticket.Option, error) {
	if keyFile == "" && len(caFiles) == 0 && len(crlSources) == 0 {
		return nil, nil
	}
	if keyFile == "" || len(caFiles) == 0 || len(crlSources) == 0 {
		return nil, errors.New("--gate-manifest-key, --gate-ca and --gate-crl go together")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("--gate-manifest-validity must be positive, got %v", validity)
	}
	key, err := readEd25519Private(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--gate-manifest-key: %w", err)
	}
	trust, err := gateTrust(caFiles, crlSources, http.DefaultClient)
	if err != nil {
		return nil, err
	}
	return ticket.WithGate(key, trust, validity), nil
}

// gateTrust reads the CA certificates now and returns a source that reads the CRLs at each call.
func gateTrust(caFiles, crlSources []string, hc *http.Client) (ticket.GateTrust, error) {
	var cas [][]byte
	for _, f := range caFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--gate-ca: %w", err)
		}
		der := readDERorPEM(b, "CERTIFICATE")
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("--gate-ca %s: not a certificate: %w", f, err)
		}
		cas = append(cas, der)
	}
	for _, src := range crlSources {
		if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("--gate-crl: %w", err)
			}
		}
	}
	return func(ctx context.Context) ([][]byte, [][]byte, error) {
		var crls [][]byte
		for _, src := range crlSources {
			b, err := fetchCRL(ctx, hc, src)
			if err != nil {
				return nil, nil, err
			}
			der := readDERorPEM(b, "X509 CRL")
			if _, err := x509.ParseRevocationList(der); err != nil {
				return nil, nil, fmt.Errorf("CRL %s: %w", src, err)
			}
			crls = append(crls, der)
		}
		return cas, crls, nil
	}, nil
}

func fetchCRL(ctx context.Context, hc *http.Client, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("CRL %s: HTTP %d", src, resp.StatusCode)
	}
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, io.LimitReader(resp.Body, maxCRLSize+1)); err != nil {
		return nil, fmt.Errorf("CRL %s: %w", src, err)
	} else if n > maxCRLSize {
		return nil, fmt.Errorf("CRL %s: larger than %d bytes", src, maxCRLSize)
	}
	return buf.Bytes(), nil
}
