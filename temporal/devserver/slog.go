package devserver

import (
	"context"
	"log/slog"
	"os"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogLogger hands the Temporal server's logs to log/slog, so `signoff
// temporal` writes one format (and no stack traces on every error), with a
// level of its own: the server is chatty below warn.
type slogLogger struct {
	l   *slog.Logger
	min slog.Level
}

var _ log.Logger = slogLogger{}

// NewSlogLogger returns a Temporal logger writing to l at level and above
// ("debug", "info", "warn", "error"; unknown means warn).
func NewSlogLogger(l *slog.Logger, level string) log.Logger {
	min := slog.LevelWarn
	_ = min.UnmarshalText([]byte(level))
	return slogLogger{l: l.With("server", "temporal"), min: min}
}

func (s slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.min || !s.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	s.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag)  { s.log(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)   { s.log(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)   { s.log(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic and Fatal keep their meaning: the server relies on them to stop.
func (s slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}

func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

// With keeps tags on a derived logger, as Temporal's services do per shard
// and component.
func (s slogLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return slogLogger{l: s.l.With(args...), min: s.min}
}
