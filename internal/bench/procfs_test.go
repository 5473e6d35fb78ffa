package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stat       string
		user, sys  time.Duration
		wantErrMsg bool
	}{
		{"ordinary", "4242 (jisr) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 12 0 100 2000000 5000 18446744073709551615",
			2500 * time.Millisecond, 370 * time.Millisecond, false},
		{"command name with spaces and parentheses", "77 (my (odd) proc) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 6 7",
			30 * time.Millisecond, 40 * time.Millisecond, false},
		{"no command name", "77 jisr R 1 2 3", 0, 0, true},
		{"truncated", "77 (jisr) R 1 77 77 0 -1 0 0 0 0 0 3", 0, 0, true},
		{"not a number", "77 (jisr) R 1 77 77 0 -1 0 0 0 0 0 x 4 0 0 20", 0, 0, true},
		{"negative", "77 (jisr) R 1 77 77 0 -1 0 0 0 0 0 -3 4 0 0 20", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.stat))
			if tc.wantErrMsg {
				if err == nil {
					t.Fatalf("ParseStat accepted %q: %+v", tc.stat, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.User != tc.user || got.System != tc.sys || got.Total() != tc.user+tc.sys {
				t.Fatalf("ParseStat = %+v, want user %v system %v", got, tc.user, tc.sys)
			}
		})
	}
}

func TestCPUTimeSub(t *testing.T) {
	a := CPUTime{User: 3 * time.Second, System: time.Second}
	b := CPUTime{User: time.Second, System: 500 * time.Millisecond}
	if d := a.Sub(b); d.User != 2*time.Second || d.System != 500*time.Millisecond || d.Total() != 2500*time.Millisecond {
		t.Fatalf("Sub = %+v", d)
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tjisr\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmSize:\t 1200000 kB\n" +
		"VmHWM:\t   65432 kB\nVmRSS:\t   40960 kB\nThreads:\t12\n"
	m, err := ParseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 40960<<10 || m.Peak != 65432<<10 {
		t.Fatalf("ParseStatus = %+v", m)
	}
	for name, bad := range map[string]string{
		"missing VmHWM":   "VmRSS:\t 1 kB\n",
		"missing VmRSS":   "VmHWM:\t 1 kB\n",
		"unit not kB":     "VmRSS:\t 1 MB\nVmHWM:\t 1 kB\n",
		"not a number":    "VmRSS:\t x kB\nVmHWM:\t 1 kB\n",
		"kernel thread":   "Name:\tkthreadd\nState:\tS\n",
		"extra field":     "VmRSS:\t 1 2 kB\nVmHWM:\t 1 kB\n",
		"negative number": "VmRSS:\t -1 kB\nVmHWM:\t 1 kB\n",
	} {
		t.Run(name, func(t *testing.T) {
			if m, err := ParseStatus([]byte(bad)); err == nil {
				t.Fatalf("ParseStatus accepted %q: %+v", bad, m)
			}
		})
	}
}

// TestReadOwnProcess reads this test process's own /proc files: the
// parsers must accept what the running kernel writes.
func TestReadOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	pid := os.Getpid()
	if _, err := ReadCPU(pid); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("own memory %+v: want 0 < RSS ≤ peak", m)
	}
}
