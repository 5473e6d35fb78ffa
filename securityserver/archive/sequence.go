package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/jisr-bus/jisr/securityserver/message"
)

// SequenceFile is one archive of a sequence to verify.
type SequenceFile struct {
	// Name names the file in errors.
	Name string
	R    io.ReaderAt
	Size int64
}

// VerifySequence verifies archives that follow one another (as the
// archiver writes them, oldest first): each one on its own (Verify), and
// each one's link to the one before — its previous-manifest hash is the
// hash of the previous manifest, its first record follows the previous
// one's last, and its first record's previous hash is the previous one's
// head hash. trust.PrevManifestHash applies to the first file. The error
// names the file that fails.
func VerifySequence(ctx context.Context, files []SequenceFile, trust Trust) ([]*Report, error) {
	var reps []*Report
	if trust.Cache == nil {
		trust.Cache = message.NewVerifyCache(0)
	}
	for i, f := range files {
		tr := trust
		if i > 0 {
			tr.PrevManifestHash = reps[i-1].Manifest.Hash
		}
		rep, err := Verify(ctx, f.R, f.Size, tr)
		if err != nil {
			return reps, fmt.Errorf("%s: %w", f.Name, err)
		}
		if i > 0 {
			prev := reps[i-1].Manifest
			switch {
			case rep.Manifest.From != prev.To+1:
				return reps, fmt.Errorf("%s: starts at record %d, but %s ends at record %d", f.Name, rep.Manifest.From, files[i-1].Name, prev.To)
			case !bytes.Equal(rep.Manifest.PrevHash, prev.HeadHash):
				return reps, fmt.Errorf("%s: its first record does not follow the head of %s", f.Name, files[i-1].Name)
			case rep.Manifest.Server != prev.Server:
				return reps, fmt.Errorf("%s: written by %s, but %s by %s", f.Name, rep.Manifest.Server, files[i-1].Name, prev.Server)
			}
		}
		reps = append(reps, rep)
	}
	return reps, nil
}
