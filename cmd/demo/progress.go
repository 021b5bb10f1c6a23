package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// phaseView is what the progress display shows of one phase while it runs.
type phaseView struct {
	name   string
	goal   string         // what the phase does and what ends it
	frac   func() float64 // progress 0…1; nil: unknown until the phase ends
	status func() string  // one live line

	mu      sync.Mutex
	summary string // set by end
	bar     *mpb.Bar
}

func (v *phaseView) line() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.summary != "" {
		return v.summary
	}
	if v.status == nil {
		return ""
	}
	return v.status()
}

// progressUI shows phases and events as they happen: bars on a terminal, plain lines
// elsewhere (tests, CI, a pipe).
type progressUI interface {
	start(v *phaseView)
	end(v *phaseView, summary string)
	// fail ends a phase that did not get done (its bar, on a terminal, stays short).
	fail(v *phaseView, why string)
	event(msg string)
	stop()
}

// plainUI writes one line per phase start, phase end and event.
type plainUI struct {
	mu    sync.Mutex
	w     io.Writer
	since func() time.Duration
}

func newPlainUI(w io.Writer, since func() time.Duration) *plainUI {
	return &plainUI{w: w, since: since}
}

func (p *plainUI) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%5.1fs] ", p.since().Seconds())
	fmt.Fprintf(p.w, format, args...)
	fmt.Fprintln(p.w)
}

func (p *plainUI) start(v *phaseView) { p.printf("%s: %s", v.name, v.goal) }

func (p *plainUI) end(v *phaseView, summary string) {
	v.mu.Lock()
	v.summary = summary
	v.mu.Unlock()
	p.printf("%s: done, %s", v.name, summary)
}

func (p *plainUI) fail(v *phaseView, why string) {
	v.mu.Lock()
	v.summary = why
	v.mu.Unlock()
	p.printf("%s: %s", v.name, why)
}

func (p *plainUI) event(msg string) { p.printf("  %s", msg) }

func (p *plainUI) stop() {}

// barUI draws one mpb bar per phase; events print above the bars.
type barUI struct {
	p      *mpb.Progress
	since  func() time.Duration
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	active []*phaseView
	all    []*phaseView
}

func newBarUI(w io.Writer, since func() time.Duration) *barUI {
	ctx, cancel := context.WithCancel(context.Background())
	u := &barUI{
		p:      mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(120*time.Millisecond)),
		since:  since,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go u.tick(ctx)
	return u
}

// tick moves the bars of the running phases.
func (u *barUI) tick(ctx context.Context) {
	defer close(u.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		u.mu.Lock()
		for _, v := range u.active {
			if v.frac != nil {
				v.bar.SetCurrent(int64(v.frac() * 1000))
			}
		}
		u.mu.Unlock()
	}
}

func (u *barUI) start(v *phaseView) {
	name := decor.Name(v.name, decor.WC{W: 10, C: decor.DindentRight})
	status := decor.Any(func(decor.Statistics) string { return v.line() })
	v.bar = u.p.AddBar(1000,
		mpb.PrependDecorators(name, decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 5})),
		mpb.AppendDecorators(status))
	u.mu.Lock()
	u.active = append(u.active, v)
	u.all = append(u.all, v)
	u.mu.Unlock()
}

func (u *barUI) end(v *phaseView, summary string) {
	u.finish(v, summary)
	v.bar.SetCurrent(1000) // reaching the total completes the bar
}

func (u *barUI) fail(v *phaseView, why string) {
	u.finish(v, why)
	v.bar.Abort(false) // drawn where it stopped
}

// finish sets v's last line and takes it off the active bars.
func (u *barUI) finish(v *phaseView, summary string) {
	v.mu.Lock()
	v.summary = summary
	v.mu.Unlock()
	u.mu.Lock()
	for i, a := range u.active {
		if a == v {
			u.active = append(u.active[:i], u.active[i+1:]...)
			break
		}
	}
	u.mu.Unlock()
}

func (u *barUI) event(msg string) {
	_, _ = fmt.Fprintf(u.p, "[%5.1fs]   %s\n", u.since().Seconds(), msg)
}

// stop ends the bars of phases that never ended (Ctrl-C) and waits for the last draw.
func (u *barUI) stop() {
	u.cancel()
	<-u.done
	u.mu.Lock()
	for _, v := range u.active {
		v.bar.Abort(false)
	}
	u.active = nil
	u.mu.Unlock()
	u.p.Wait()
}
