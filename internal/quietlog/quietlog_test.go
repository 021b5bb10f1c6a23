package quietlog

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// stallingWriter blocks every write until released.
type stallingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stallingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type panickingWriter struct{}

func (panickingWriter) Write([]byte) (int, error) { panic("the caller's writer") }

// A line goes out, in full, once the logger's output drains; until then Debug has
// returned already. A writer that panics reaches nothing, and a logger above debug
// level gets nothing.
func TestDebug(t *testing.T) {
	w := &stallingWriter{release: make(chan struct{})}
	returned := make(chan struct{})
	go func() {
		Debug(zerolog.New(w).Level(zerolog.DebugLevel), func(ev *zerolog.Event) { ev.Str("k", "v").Msg("hello") })
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Debug waited for a stalled writer")
	}
	require.Empty(t, w.String())
	close(w.release)
	require.Eventually(t, func() bool { return w.String() != "" }, 10*time.Second, time.Millisecond)
	require.JSONEq(t, `{"level":"debug","k":"v","message":"hello"}`, w.String())

	require.NotPanics(t, func() {
		Debug(zerolog.New(panickingWriter{}).Level(zerolog.DebugLevel), func(ev *zerolog.Event) { ev.Msg("boom") })
		Debug(zerolog.New(panickingWriter{}).Level(zerolog.DebugLevel).Hook(zerolog.HookFunc(func(*zerolog.Event, zerolog.Level, string) { panic("hook") })),
			func(ev *zerolog.Event) { ev.Msg("boom") })
	})

	// Below the logger's level there is no event, and so no goroutine.
	require.Nil(t, debugEvent(zerolog.New(&bytes.Buffer{}).Level(zerolog.InfoLevel)))
	require.Nil(t, debugEvent(zerolog.Nop()))
	require.NotNil(t, debugEvent(zerolog.New(&bytes.Buffer{}).Level(zerolog.DebugLevel)))
}
