package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ). Linux
// fixes it at 100 on every architecture Go supports; reading it would need
// sysconf(_SC_CLK_TCK) through cgo.
const userHZ = 100

// CPUTime is a process's consumed CPU time.
type CPUTime struct {
	User, System time.Duration
}

// Total is user plus system time.
func (c CPUTime) Total() time.Duration { return c.User + c.System }

// Sub returns c − o.
func (c CPUTime) Sub(o CPUTime) CPUTime {
	return CPUTime{User: c.User - o.User, System: c.System - o.System}
}

// ParseStat reads utime and stime (fields 14 and 15, proc(5)) from the
// contents of /proc/PID/stat. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses, so the fields are counted
// from the last ')'.
func ParseStat(b []byte) (CPUTime, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return CPUTime{}, errors.New("bench: /proc stat: no command name")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state), so field n is fields[n-3].
	if len(fields) < 13 {
		return CPUTime{}, fmt.Errorf("bench: /proc stat: %d fields after the command name, want ≥ 13", len(fields))
	}
	ticks := func(f []byte) (time.Duration, error) {
		v, err := strconv.ParseUint(string(f), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: %w", err)
		}
		return time.Duration(v) * (time.Second / userHZ), nil
	}
	u, err := ticks(fields[14-3])
	if err != nil {
		return CPUTime{}, err
	}
	s, err := ticks(fields[15-3])
	if err != nil {
		return CPUTime{}, err
	}
	return CPUTime{User: u, System: s}, nil
}

// Memory is a process's resident memory, from /proc/PID/status.
type Memory struct {
	// RSS is VmRSS, the resident set now; Peak is VmHWM, its high-water
	// mark since the process started or since ResetPeak.
	RSS, Peak int64 // bytes
}

// ParseStatus reads VmRSS and VmHWM from the contents of /proc/PID/status.
func ParseStatus(b []byte) (Memory, error) {
	var m Memory
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Memory{}, fmt.Errorf("bench: /proc status: %s: %q", name, bytes.TrimSpace(rest))
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || v < 0 {
			return Memory{}, fmt.Errorf("bench: /proc status: %s: %q", name, f[0])
		}
		*dst = v << 10
		seen++
	}
	if err := sc.Err(); err != nil {
		return Memory{}, err
	}
	if seen != 2 {
		return Memory{}, errors.New("bench: /proc status: VmRSS or VmHWM missing")
	}
	return m, nil
}

// ReadCPU returns the CPU time process pid has used.
func ReadCPU(pid int) (CPUTime, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return CPUTime{}, err
	}
	return ParseStat(b)
}

// ReadMemory returns process pid's resident memory.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, err
	}
	return ParseStatus(b)
}

// ResetPeak resets process pid's VmHWM to its current RSS (writing 5 to
// /proc/PID/clear_refs, Linux ≥ 4.0; the caller must own the process).
func ResetPeak(pid int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}
