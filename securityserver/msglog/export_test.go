package msglog

// SetBeforeCommit installs a hook the writer goroutine runs at the start
// of every batch, with the batch's size. Call it before the first Append.
func SetBeforeCommit(l *Log, fn func(n int)) { l.beforeCommit = fn }

// QueueLen returns how many appends are queued for the writer.
func QueueLen(l *Log) int { return len(l.queue) }

// IsClosed reports whether Close has begun.
func IsClosed(l *Log) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}
