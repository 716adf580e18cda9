package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/rpdemo"

	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/web"
	"github.com/mynagate/mynagate/web/pages"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

// demoResidents are the holders of the demo cards. An entry with phoneOf is an Android
// credential the holder of that card issued from it (jlis phone issue --card): the same
// resident, My Number and person, not a resident of its own.
var demoResidents = []struct {
	file    string
	b4      jpki.Basic4
	alias   string
	phoneOf string
}{
	{"taro.json", jpki.Basic4{Name: "山田　太郎", Birth: jpki.Date{Year: 1985, Month: time.April, Day: 2}, Sex: jpki.SexMale, Address: "東京都千代田区霞が関２丁目１番２号"}, "", ""},
	{"hanako.json", jpki.Basic4{Name: "𠮷田　花子", Birth: jpki.Date{Year: 1992, Month: time.February, Day: 29}, Sex: jpki.SexFemale, Address: "東京都清瀬市中里５丁目８４２番地"}, "", ""},
	{"anna.json", jpki.Basic4{Name: "SMITH ANNA", Birth: jpki.Date{Year: 1990, Month: time.July, Day: 7}, Sex: jpki.SexFemale, Address: "大阪府大阪市北区梅田１丁目１番"}, "スミス　アンナ", ""},
	{"ken.json", jpki.Basic4{Name: "佐藤　健", Birth: jpki.Date{Year: 2001, Month: time.November, Day: 3}, Sex: jpki.SexMale, Address: "福岡県福岡市中央区天神１丁目８番１号"}, "", ""},
	{"ken-phone.json", jpki.Basic4{Name: "佐藤　健"}, "", "ken.json"},
	{"yui-child.json", jpki.Basic4{Name: "山田　結衣", Birth: jpki.Date{Year: 2016, Month: time.June, Day: 10}, Sex: jpki.SexFemale, Address: "東京都千代田区霞が関２丁目１番２号"}, "", ""},
}

// issueDemo issues a demo card, or with phoneOf an Android credential from the demo card in
// that file, as its holder's app would.
func issueDemo(ctx context.Context, sim *jlis.Simulator, cardDir string, b4 jpki.Basic4, alias, phoneOf string) (*jlis.Issued, string, error) {
	if phoneOf == "" {
		iss, err := sim.Issue(ctx, jlis.IssueRequest{Basic4: b4, Alias: alias})
		return iss, "card", err
	}
	cf, err := jpki.LoadCardFile(filepath.Join(cardDir, phoneOf))
	if err != nil {
		return nil, "", err
	}
	iss, err := sim.IssuePhone(ctx, cf, jpki.MediumAndroid, "", "")
	return iss, "Android credential from " + phoneOf, err
}

func newDemoCmd() *cobra.Command {
	var data, addr, jlisAddr, ticketAddr string
	var once bool
	var rpAddr string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything in one process on the embedded defaults: J-LIS simulator, demo cards, the platform on SQLite, a demo tenant",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), data, addr, jlisAddr, ticketAddr, rpAddr, once)
		},
	}
	cmd.Flags().StringVar(&data, "data", "mynagate-demo", "directory for the demo's state (kept between runs)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address of the platform")
	cmd.Flags().StringVar(&jlisAddr, "jlis-addr", "127.0.0.1:8470", "listen address of the J-LIS simulator")
	cmd.Flags().StringVar(&ticketAddr, "ticket-addr", "127.0.0.1:8090", "listen address of the ticketing service")
	cmd.Flags().StringVar(&rpAddr, "rp-addr", "127.0.0.1:8091", "listen address of the demo relying party (Log in with My Number Card)")
	cmd.Flags().BoolVar(&once, "once", false, "set up, print what to try, and exit instead of serving")
	return cmd
}

func runDemo(ctx context.Context, w io.Writer, data, addr, jlisAddr, ticketAddr, rpAddr string, once bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jln, err := net.Listen("tcp", jlisAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another demo running? use --jlis-addr)", jlisAddr, err)
	}
	defer jln.Close()
	pln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another demo running? use --addr)", addr, err)
	}
	rln, err := net.Listen("tcp", rpAddr)
	if err != nil {
		pln.Close()
		return fmt.Errorf("listen on %s: %w (another demo running? use --rp-addr)", rpAddr, err)
	}
	defer rln.Close()
	defer pln.Close()
	tln, err := net.Listen("tcp", ticketAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another demo running? use --ticket-addr)", ticketAddr, err)
	}
	defer tln.Close()
	jbase, pbase := "http://"+jln.Addr().String(), "http://"+pln.Addr().String()
	jlisDir := filepath.Join(data, "jlis")
	cardDir := filepath.Join(data, "cards")
	if err := os.MkdirAll(cardDir, 0o700); err != nil {
		return err
	}
	sim, err := jlis.Open(ctx, jlisDir, jlis.WithOCSPURL(jbase))
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(w, "mynagate demo — state in %s\n\n", data)
	fmt.Fprintf(w, "J-LIS simulator (test naming %s, CAs %v) at %s\n", sim.Naming(), sim.CANames(), jbase)
	for _, r := range demoResidents {
		path := filepath.Join(cardDir, r.file)
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(w, "  card %-30s (kept from an earlier run)\n", path)
			continue
		}
		iss, kind, err := issueDemo(ctx, sim, cardDir, r.b4, r.alias, r.phoneOf)
		if err != nil {
			return fmt.Errorf("issue demo card %s: %w", r.file, err)
		}
		if err := iss.Card.Save(path); err != nil {
			return err
		}
		sign := "no signing certificate (under 15)"
		if iss.Card.Sign != nil {
			sign = refName(sim, iss.Card.Sign.Cert)
		}
		fmt.Fprintf(w, "  card %-30s %s of %s: %s, %s\n", path, kind, iss.Card.Basic4.Name, refName(sim, iss.Card.Auth.Cert), sign)
	}
	// J-LIS answers status, links and basic 4 to the platform only, as it would for real.
	tokFile, err := platformTokenFile(jlisDir, rand.Reader)
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		return err
	}
	jlisToken := strings.TrimSpace(string(tok))
	jsrv := &http.Server{Handler: withIndex(sim.Handler(jlis.WithPlatformToken(jlisToken)), jlisIndex()), ReadHeaderTimeout: 10 * time.Second}
	go jsrv.Serve(jln)
	defer jsrv.Close()
	defer startCRLRefresh(ctx, sim)() // stops before the simulator is closed

	// The platform pins the CAs of its own simulator, as an operator pins J-LIS's with --trust.
	var anchors []*x509.Certificate
	for _, name := range sim.CANames() {
		c, err := sim.CACertificate(name)
		if err != nil {
			return err
		}
		anchors = append(anchors, c)
	}
	db := "sqlite:" + filepath.Join(data, "platform.db")
	landing := &pages.Demo{PINs: "authentication 1234, signing password ABC123",
		ReaderCommand: fmt.Sprintf("mynagate reader verify --card %s 'HOLDER_URL'", filepath.Join(cardDir, "taro.json"))}
	for _, r := range demoResidents {
		landing.Cards = append(landing.Cards, pages.DemoCard{Holder: r.b4.Name, Path: filepath.Join(cardDir, r.file)})
	}
	n, err := startNode(ctx, platformConfig{db: db, jlisURL: jbase, jlisToken: jlisToken, dataDir: filepath.Join(data, "platform"), publicURL: pbase, crlInterval: 10 * time.Second,
		privateWebhooks: true, // the demo's receivers (mynagate webhook listen) run on this machine
		rateLimits:      &web.DefaultRateLimits,
		insecureJLIS:    true, // its own simulator on loopback
		pins:            wiring.PinCertificates(anchors...),
		demo:            landing,
	})
	if err != nil {
		return err
	}
	defer n.store.Close()
	defer n.stopLog()
	_, tenant, err := demoTenant(ctx, n.plat, filepath.Join(data, "demo-api-key.txt"))
	if err != nil {
		return err
	}
	accounts, err := demoAccounts(ctx, n.plat, tenant, pbase)
	if err != nil {
		return err
	}
	landing.Accounts = accounts
	fmt.Fprintf(w, "\nPlatform at %s (store %s), demo tenant %s, API key in %s\n", pbase, db, tenant, filepath.Join(data, "demo-api-key.txt"))
	fmt.Fprintf(w, "\nOpen %s/ in a browser: the landing page links every role.\n", pbase)
	for _, a := range accounts {
		fmt.Fprintf(w, "  %-28s %s  email %s  password %s\n", a.Role, a.URL, a.Email, a.Password)
	}
	fmt.Fprintf(w, "  %-28s %s/holder  sign in with a card; the page shows the holder URL for:\n    %s\n", "card holder", pbase, landing.ReaderCommand)
	me, goRun := invokedAs()
	fmt.Fprintf(w, `
The platform trusts only this demo's J-LIS (%[2]s): a card issued by any other simulator
(mynagate jlis issue --data DIR) is rejected as chain-invalid. Use the cards in %[1]s.
PINs of every demo card: authentication 1234, signing password ABC123, support 1234.
`, cardDir, jbase)
	if goRun {
		fmt.Fprintf(w, "go run leaves no binary: build one for the commands below with  go build -o mynagate ./cmd/mynagate\n")
	}
	fmt.Fprint(w, strings.ReplaceAll(fmt.Sprintf(`
Verify a person (本人確認) end to end (a session expires after 5 minutes):
  KEY=$(cat %[4]s/demo-api-key.txt)
  SESSION=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"purpose":"identity"}' %[1]s/v1/sessions)
  echo ABC123 | mynagate reader verify --card %[2]s/taro.json --pin-stdin "$(echo "$SESSION" | jq -r .holder_url)"
  curl -sf -H "Authorization: Bearer $KEY" %[1]s/v1/sessions/$(echo "$SESSION" | jq -r .id) | jq .verification
Log in (利用者認証): the same with {"purpose":"login"} and the authentication PIN 1234.

The J-LIS side:
  curl -s %[5]s/crl/sign.crl | openssl crl -inform DER -noout -text
  mynagate jlis move --data %[3]s --card %[2]s/taro.json --address '大阪府大阪市北区梅田１丁目１番'
  mynagate jlis reissue-sign --data %[3]s --card %[2]s/taro.json --sign-password ABC123   # after the move, at the counter
  mynagate jlis revoke --data %[3]s --card %[2]s/hanako.json --cause lost
  mynagate reader status --card %[2]s/taro.json
  mynagate card insert %[2]s/taro.json      # into pcscd's virtual reader (pcscd with vsmartcard-vpcd)
`, pbase, cardDir, jlisDir, data, jbase), "mynagate ", me+" "))
	serveTicket, err := demoTicket(ctx, w, n.plat, data, pbase, tln)
	if err != nil {
		return fmt.Errorf("ticketing: %w", err)
	}
	rpBase := "http://" + rln.Addr().String()
	landing.Apps = []pages.App{
		{Name: "Log in with My Number Card (a demo relying party on the OpenID provider)", URL: rpBase},
		{Name: "Ticketing (a relying party built on the public API)", URL: "http://" + tln.Addr().String()},
	}
	oc, err := demoOIDC(ctx, n.oidc, tenant, filepath.Join(data, "oidc-clients.json"), rpBase)
	if err != nil {
		return fmt.Errorf("OpenID clients: %w", err)
	}
	fmt.Fprintf(w, `
Log in with My Number Card (OpenID Connect, issuer %[1]s):
  open %[2]s and click the button; scan the QR code, or complete it as the phone would:
  mynagate reader verify --card %[3]s/taro.json 'the URL under the QR code'
  a TV with the device grant:  mynagate tv-demo --issuer %[1]s --client-id %[4]s
  another client:  mynagate oidc client create --db %[5]s --data %[6]s --tenant %[7]s --name NAME --redirect-uri URI
`, n.oidc.Issuer(), rpBase, cardDir, oc.TVClientID, db, filepath.Join(data, "platform"), tenant)
	if once {
		done, cancel := context.WithCancel(ctx)
		cancel()
		return serveTicket(done) // closes its database
	}
	go serveTicket(ctx)
	perr := make(chan error, 1)
	go func() { perr <- serveUntilDone(ctx, pln, n.handler) }()
	// The relying party discovers the provider, so it starts once the platform serves.
	signCA, err := sim.CACertificate("sign")
	if err != nil {
		cancel()
		<-perr
		return err
	}
	app, err := rpdemo.New(ctx, rpdemo.Config{Issuer: n.oidc.Issuer(), ClientID: oc.RPClientID, ClientSecret: oc.RPClientSecret, BaseURL: rpBase,
		SignCAs: []*x509.Certificate{signCA}})
	if err != nil {
		cancel()
		<-perr
		return err
	}
	go serveUntilDone(ctx, rln, app.Handler())
	fmt.Fprintf(w, "\nReady: serving until Ctrl-C (the API key is in %s).\n", filepath.Join(data, "demo-api-key.txt"))
	return <-perr
}

// demoClients are the demo's OpenID clients: the demo relying party's and a TV's.
type demoClients struct {
	RPClientID     string `json:"rp_client_id"`
	RPClientSecret string `json:"rp_client_secret"`
	TVClientID     string `json:"tv_client_id"`
	RPBase         string `json:"rp_base"`
}

// demoOIDC registers the demo's clients on the first run (or when the relying party's address
// changed) and keeps them in file, since a secret is shown only once.
func demoOIDC(ctx context.Context, pr *oidc.Provider, tenantID, file, rpBase string) (*demoClients, error) {
	var dc demoClients
	if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &dc) == nil && dc.RPBase == rpBase {
		cs, err := pr.Clients(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		found := 0
		for _, c := range cs {
			if c.ID == dc.RPClientID || c.ID == dc.TVClientID {
				found++
			}
		}
		if found == 2 {
			return &dc, nil
		}
	}
	rp, secret, err := pr.CreateClient(ctx, tenantID, oidc.ClientRequest{Name: "Demo Bank", RedirectURIs: []string{rpBase + "/callback"}, LogoutURIs: []string{rpBase + "/"}})
	if err != nil {
		return nil, err
	}
	tv, _, err := pr.CreateClient(ctx, tenantID, oidc.ClientRequest{Name: "Demo Bank TV", RedirectURIs: []string{rpBase + "/tv"}, Public: true})
	if err != nil {
		return nil, err
	}
	dc = demoClients{RPClientID: rp.ID, RPClientSecret: secret, TVClientID: tv.ID, RPBase: rpBase}
	b, _ := json.MarshalIndent(dc, "", "  ")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, err
	}
	return &dc, nil
}

// demoTenant returns the demo tenant's API key, creating the tenant and key on the first run
// (the key is kept in keyFile, since keys are shown only once).
func demoTenant(ctx context.Context, p *platform.Platform, keyFile string) (string, string, error) {
	if b, err := os.ReadFile(keyFile); err == nil {
		key := strings.TrimSpace(string(b))
		t, err := p.Authenticate(ctx, key)
		if err != nil {
			return "", "", fmt.Errorf("demo API key in %s no longer works (%v); remove the file to make a new tenant", keyFile, err)
		}
		return key, t.ID, nil
	}
	t, err := p.CreateTenant(ctx, "Demo Bank", platform.AllFacts)
	if err != nil {
		return "", "", err
	}
	key, _, err := p.CreateAPIKey(ctx, t.ID, "demo")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return key, t.ID, nil
}

// The demo's console accounts: fixed, printed passwords (the demo is a local sandbox).
const (
	demoStaffEmail    = "staff@demo-bank.example"
	demoStaffPassword = "demo-bank-staff-pw"
	demoOpEmail       = "operator@mynagate.example"
	demoOpPassword    = "demo-operator-pw"
)

// demoAccounts makes the demo's console accounts on the first run (later runs find them).
func demoAccounts(ctx context.Context, p *platform.Platform, tenant, base string) ([]pages.Account, error) {
	for _, a := range []struct {
		tenant, email, pw string
		op                bool
	}{{tenant, demoStaffEmail, demoStaffPassword, false}, {"", demoOpEmail, demoOpPassword, true}} {
		_, err := p.CreateConsoleUser(ctx, a.tenant, a.email, a.pw, a.op)
		var pe *platform.Error
		if err != nil && !(errors.As(err, &pe) && pe.Type == "email-taken") {
			return nil, fmt.Errorf("demo console user %s: %w", a.email, err)
		}
	}
	return []pages.Account{
		{Role: "Demo Bank staff (console)", Email: demoStaffEmail, Password: demoStaffPassword, URL: base + "/console"},
		{Role: "platform operator", Email: demoOpEmail, Password: demoOpPassword, URL: base + "/operator"},
	}, nil
}

// invokedAs is how the printed hints should run this binary: ./mynagate after go run (whose
// binary lives in the build cache; the hints then say to build one), else as it was invoked.
func invokedAs() (name string, goRun bool) {
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, "go-build") {
		return "./mynagate", true
	}
	if a := os.Args[0]; a != "" && strings.ContainsRune(a, filepath.Separator) {
		return a, false
	}
	return "mynagate", false
}
