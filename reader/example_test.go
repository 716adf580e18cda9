package reader_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/reader"
)

// Sign a platform's nonce with the auth key of the card in the first reader that holds one.
func ExampleClient_AuthSigner() {
	ctx := context.Background()
	p, err := reader.DialPCSC(ctx) // $PCSCLITE_CSOCK_NAME or /run/pcscd/pcscd.comm
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	tr, err := p.FirstCard(ctx, "")
	if err != nil {
		log.Fatal(err) // errors.Is(err, reader.ErrNoCard): ask the holder to insert the card
	}
	c := reader.NewClient(tr)
	defer c.Close() // resets the card: nobody inherits the verified PIN

	// Refuse to spend the last try of the PIN on a guess.
	if _, err := c.CheckTries(ctx, reader.PINAuth, false); err != nil {
		log.Fatal(err)
	}
	signer, err := c.AuthSigner(ctx, "1234")
	var e *reader.Error
	if errors.As(err, &e) && e.Reason == reader.ReasonWrongPIN {
		log.Fatalf("wrong PIN, %d tries left", e.TriesLeft)
	}
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("nonce from the platform"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d-byte signature by %s\n", len(sig), signer.Certificate().Subject)
}

// Read the basic 4 facts of a card file in this process, without pcscd.
func ExampleNewInProcess() {
	ctx := context.Background()
	vc, err := card.Open("taro.json")
	if err != nil {
		log.Fatal(err)
	}
	c := reader.NewClient(reader.NewInProcess(vc, "taro.json"))
	defer c.Close()
	b4, err := c.ReadBasic4(ctx, "1234")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b4.Name, b4.Birth)
}
