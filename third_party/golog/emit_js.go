//go:build js

package log

import "os"

// emit writes one line to standard error (the worker's console). log/slog
// is not linked into tss.wasm for this: it would add about 0.2 MB.
func emit(l logLevel, name, msg string) {
	s := "ERROR"
	switch {
	case l < levelInfo:
		s = "DEBUG"
	case l < levelWarn:
		s = "INFO"
	case l < levelError:
		s = "WARN"
	}
	os.Stderr.WriteString(s + " " + name + ": " + msg + "\n")
}
