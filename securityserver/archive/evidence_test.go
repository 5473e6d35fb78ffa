package archive

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

func TestEvidence(t *testing.T) {
	w := newWorld(t, 2, 1)
	w.exchanges(t, 1) // msg-4: not stamped
	opts := WriteOptions{Server: serverID, Signer: w.signer, Clock: w.clk}
	ev, err := ExportExchange(w.ctx, w.log, "msg-2", nil, opts)
	if err != nil {
		t.Fatalf("ExportExchange: %v", err)
	}
	got, err := VerifyEvidence(w.ctx, ev, w.trust)
	if err != nil {
		t.Fatalf("VerifyEvidence: %v", err)
	}
	// msg-2 is records 5..8, stamped by the token over 1..8.
	if len(got.Exchange) != 4 || got.FirstID != 5 || got.LastID != 8 || got.Tokens != 1 || got.Bodies != 4 {
		t.Fatalf("evidence %+v", got.Report)
	}
	if !bytes.Equal(got.Exchange[0].Body, []byte(`{"q":"msg-2"}`)) {
		t.Errorf("request body %q", got.Exchange[0].Body)
	}
	// An evidence file is not an archive, nor the reverse.
	if _, err := verifyBytes(ev, w.trust); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(evidence) = %v", err)
	}
	arch, _ := w.write(t, 0, 0, nil)
	if _, err := VerifyEvidence(w.ctx, arch, w.trust); !errors.Is(err, ErrInvalid) {
		t.Errorf("VerifyEvidence(archive) = %v", err)
	}

	t.Run("spanning tokens", func(t *testing.T) {
		w := newWorld(t)
		// The request is stamped in one range, the response in the next.
		x := w.fix.NewExchange(t, "span", "user-1", []byte("q"), []byte("a"))
		for i, r := range []msglog.Record{x.Request(msglog.Consumer), x.Response(msglog.Consumer)} {
			if err := w.log.Append(w.ctx, &r); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				w.exchanges(t, 1) // records 2..5
			}
			w.stamp(t) // 1..5, then 6..6
		}
		ev, err := ExportExchange(w.ctx, w.log, "span", nil, WriteOptions{Server: serverID, Signer: w.signer, Clock: w.clk})
		if err != nil {
			t.Fatal(err)
		}
		got, err := VerifyEvidence(w.ctx, ev, w.trust)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Exchange) != 2 || got.FirstID != 1 || got.LastID != 6 || got.Bodies != 2 {
			t.Errorf("evidence %+v", got.Report)
		}
	})
	t.Run("not stamped", func(t *testing.T) {
		if _, err := ExportExchange(w.ctx, w.log, "msg-4", nil, opts); !errors.Is(err, ErrNotStamped) {
			t.Errorf("ExportExchange = %v, want ErrNotStamped", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		e := readTar(t, ev)
		i := index(t, e, bodyName(7))
		e[i].data = []byte(`{"a":"msg-9"}`)
		_, err := VerifyEvidence(w.ctx, resign(t, e, w.signer), w.trust)
		wantFailure(t, err, 7, "body does not match")
		e = readTar(t, ev)
		i = index(t, e, recordName(6))
		e[i].data = bytes.Replace(e[i].data, []byte(`"PROVIDER"`), []byte(`"CONSUMER"`), 1)
		_, err = VerifyEvidence(w.ctx, resign(t, e, w.signer), w.trust)
		wantFailure(t, err, 6, "altered")
	})
}
