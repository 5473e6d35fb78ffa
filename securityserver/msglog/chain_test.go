package msglog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// vectorRecords are the records of testdata/chain-vector.json: a request
// (the first record of a log) and its response (the second).
func vectorRecords() []Record {
	client := xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOI", Subsystem: "civil-registry"}
	service := xroad.ServiceID{Provider: xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOF", Subsystem: "tax"}, Code: "persons", Version: "v1"}
	d := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	base := Record{
		Side: Consumer, MessageID: "msg-1", RequestDigest: d(0x11), Client: client, Service: service,
		UserID: "alice", Issue: "ticket 7", RepresentedParty: "COM/ACME",
		LoggedAt: time.Date(2026, 5, 1, 10, 0, 1, 234567000, time.UTC),
		Signer:   client.Member(),
	}
	req := base
	req.ID, req.Direction = 1, Request
	req.Time = time.Date(2026, 5, 1, 10, 0, 0, 123000000, time.UTC)
	req.Method, req.Path, req.Query = "POST", "/lookup", "q=1"
	req.Signature = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
	req.BodySHA256, req.BodySize = d(0x22), 17
	req.PrevHash = GenesisHash()
	req.Hash = RecordHash(&req)

	resp := base
	resp.ID, resp.Direction = 2, Response
	resp.Time = time.Date(2026, 5, 1, 10, 0, 1, 0, time.UTC)
	resp.Status = 200
	resp.Signer = service.Provider.Member()
	resp.Signature = "eyJhbGciOiJFUzI1NiJ9.e30.c2lnMg"
	resp.BodySHA256, resp.BodySize = d(0x33), 0
	resp.PrevHash = req.Hash
	resp.Hash = RecordHash(&resp)
	return []Record{req, resp}
}

type vectorEntry struct {
	Fields   map[string]any `json:"fields"`
	PrevHash string         `json:"prevHash"`
	Encoding string         `json:"encoding"`
	Hash     string         `json:"hash"`
}

// TestChainVector checks the chain encoding against the golden vector
// docs/protocol.md ("Message log") cites (go test -run TestChainVector -update rewrites it).
func TestChainVector(t *testing.T) {
	var entries []vectorEntry
	for _, r := range vectorRecords() {
		f := fieldsOf(&r)
		var enc bytes.Buffer
		encodeFields(&enc, &f)
		entries = append(entries, vectorEntry{
			Fields: map[string]any{
				"id": f.id, "loggedAt": f.loggedAt.Format(time.RFC3339Nano), "direction": f.direction,
				"side": f.side, "messageId": f.messageID, "requestDigest": hex.EncodeToString(f.requestDigest),
				"client": f.client, "service": f.service, "userId": f.userID, "issue": f.issue,
				"representedParty": f.representedParty, "time": f.time.Format(time.RFC3339Nano),
				"method": f.method, "path": f.path, "query": f.query, "status": f.status, "signer": f.signer,
				"jws": f.signature, "bodySha256": hex.EncodeToString(f.bodySHA256), "bodySize": f.bodySize,
			},
			PrevHash: hex.EncodeToString(r.PrevHash),
			Encoding: hex.EncodeToString(enc.Bytes()),
			Hash:     hex.EncodeToString(r.Hash),
		})
	}
	got, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "chain-vector.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("chain encoding differs from %s (run with -update only if the format version changes):\n%s", path, got)
	}
	// The hash is SHA-256 over prevHash ‖ encoding, and records chain.
	for i, e := range entries {
		prev, _ := hex.DecodeString(e.PrevHash)
		enc, _ := hex.DecodeString(e.Encoding)
		if h := digest(append(prev, enc...)); hex.EncodeToString(h) != e.Hash {
			t.Errorf("entry %d: hash is not SHA-256(prevHash ‖ encoding)", i)
		}
		if i > 0 && e.PrevHash != entries[i-1].Hash {
			t.Errorf("entry %d not chained to entry %d", i, i-1)
		}
	}
}

// TestEncodingInjective checks that moving bytes between adjacent string
// fields changes the hash (the length prefixes separate them).
func TestEncodingInjective(t *testing.T) {
	r := vectorRecords()[0]
	a := RecordHash(&r)
	r.UserID, r.Issue = r.UserID+"t", r.Issue[1:]
	if bytes.Equal(a, RecordHash(&r)) {
		t.Fatal("shifting a byte between fields kept the hash")
	}
}
