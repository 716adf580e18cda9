package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

// demoResidents are the holders of the demo cards.
var demoResidents = []struct {
	file  string
	b4    jpki.Basic4
	alias string
	phone bool
}{
	{"taro.json", jpki.Basic4{Name: "山田　太郎", Birth: jpki.Date{Year: 1985, Month: time.April, Day: 2}, Sex: jpki.SexMale, Address: "東京都千代田区霞が関２丁目１番２号"}, "", false},
	{"hanako.json", jpki.Basic4{Name: "𠮷田　花子", Birth: jpki.Date{Year: 1992, Month: time.February, Day: 29}, Sex: jpki.SexFemale, Address: "東京都清瀬市中里５丁目８４２番地"}, "", false},
	{"anna.json", jpki.Basic4{Name: "SMITH ANNA", Birth: jpki.Date{Year: 1990, Month: time.July, Day: 7}, Sex: jpki.SexFemale, Address: "大阪府大阪市北区梅田１丁目１番"}, "スミス　アンナ", false},
	{"ken-phone.json", jpki.Basic4{Name: "佐藤　健", Birth: jpki.Date{Year: 2001, Month: time.November, Day: 3}, Sex: jpki.SexMale, Address: "福岡県福岡市中央区天神１丁目８番１号"}, "", true},
	{"yui-child.json", jpki.Basic4{Name: "山田　結衣", Birth: jpki.Date{Year: 2016, Month: time.June, Day: 10}, Sex: jpki.SexFemale, Address: "東京都千代田区霞が関２丁目１番２号"}, "", false},
}

func newDemoCmd() *cobra.Command {
	var data, addr string
	var once bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything in one process on the embedded defaults: the J-LIS simulator and demo cards",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), data, addr, once)
		},
	}
	cmd.Flags().StringVar(&data, "data", "mynagate-demo", "directory for the demo's state (kept between runs)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8470", "listen address of the J-LIS simulator")
	cmd.Flags().BoolVar(&once, "once", false, "set up, print what to try, and exit instead of serving")
	return cmd
}

func runDemo(ctx context.Context, w io.Writer, data, addr string, once bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another demo running? use --addr)", addr, err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	jlisDir := filepath.Join(data, "jlis")
	cardDir := filepath.Join(data, "cards")
	if err := os.MkdirAll(cardDir, 0o700); err != nil {
		return err
	}
	sim, err := jlis.Open(ctx, jlisDir, jlis.WithOCSPURL(base))
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(w, "mynagate demo — state in %s\n\n", data)
	fmt.Fprintf(w, "J-LIS simulator (test naming %s, CAs %v) at %s\n", sim.Naming(), sim.CANames(), base)
	for _, r := range demoResidents {
		path := filepath.Join(cardDir, r.file)
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(w, "  card %-26s (kept from an earlier run)\n", path)
			continue
		}
		m := jpki.MediumCard
		if r.phone {
			m = jpki.MediumAndroid
		}
		iss, err := sim.Issue(ctx, jlis.IssueRequest{Basic4: r.b4, Alias: r.alias, Medium: m})
		if err != nil {
			return fmt.Errorf("issue demo card %s: %w", r.file, err)
		}
		if err := iss.Card.Save(path); err != nil {
			return err
		}
		kind := "card"
		if r.phone {
			kind = "Android credential"
		}
		sign := "no signing certificate (under 15)"
		if iss.SignSerial != 0 {
			sign = fmt.Sprintf("sign/%X", iss.SignSerial)
		}
		fmt.Fprintf(w, "  card %-26s %s of %s: auth/%X, %s\n", path, kind, iss.Card.Basic4.Name, iss.AuthSerial, sign)
	}
	fmt.Fprintf(w, `
PINs of every demo card: authentication 1234, signing password ABC123, support 1234.

Try:
  curl -s %[1]s/ca/sign.pem                          # the signing CA (also /ca/auth.pem)
  curl -s %[1]s/crl/sign.crl | openssl crl -inform DER -noout -text
  mynagate jlis cert --card %[2]s/taro.json --kind sign > taro.pem
  curl -s %[1]s/ca/sign.pem > signca.pem
  openssl ocsp -issuer signca.pem -cert taro.pem -url %[1]s/ocsp/sign -CAfile signca.pem
  mynagate jlis move --data %[3]s --card %[2]s/taro.json --address '大阪府大阪市北区梅田１丁目１番'
  mynagate jlis status --data %[3]s --card %[2]s/taro.json
  mynagate reader status --card %[2]s/taro.json       # read the card in-process
  mynagate card insert %[2]s/taro.json                # attach it to pcscd (needs vsmartcard-vpcd)
`, base, cardDir, jlisDir)
	if once {
		return nil
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go refreshCRLs(ctx, sim)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(w, "\nServing; Ctrl-C to stop.\n")
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
