package driver_test

import (
	"context"
	"database/sql"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// ourGoroutines returns the stacks of goroutines running code of this library's
// client side (not the warehouse, not the test itself).
func ourGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "lifecycle_e2e_test") || strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "dbtelemetry/driver.") && !strings.Contains(g, "dbtelemetry/aggregator.") && !strings.Contains(g, "dbtelemetry/exporter.") {
			continue
		}
		for _, p := range []string{"dbtelemetry/driver.", "dbtelemetry/aggregator.", "dbtelemetry/exporter.", "dbtelemetry/telemetry.", "dbtelemetry/internal/quietlog"} {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitNoneOfOurs waits up to d for ourGoroutines to end and returns those left.
func waitNoneOfOurs(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		g := ourGoroutines()
		if len(g) == 0 || time.Now().After(deadline) {
			return g
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts the process's open file descriptors (-1 where /proc is not).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// poolLogs counts the connection logs per session (CREATE_SESSION, DELETE_SESSION) and
// the statement logs per statement that the ingest received.
func poolLogs(t *testing.T, srv *warehouse.Server) (opens, closes, stmts map[string]int) {
	opens, closes, stmts = map[string]int{}, map[string]int{}, map[string]int{}
	logs := decodeLogs(t, srv)
	for _, l := range logs {
		switch opType(l) {
		case telemetry.OpCreateSession:
			opens[l.Entry.SQLDriverLog.SessionID]++
		case telemetry.OpDeleteSession:
			closes[l.Entry.SQLDriverLog.SessionID]++
		}
	}
	for id, ls := range statementLogs(logs) {
		stmts[id] = len(ls)
	}
	return opens, closes, stmts
}

// 200 pools opened and closed one after another, each running a query: nothing grows
// (our goroutines, file descriptors, host refs), and every session and statement
// has its logs exactly once.
func TestManyPoolsLeaveNothingAndLogOnce(t *testing.T) {
	for _, mode := range []string{"on", "flag", "off"} {
		t.Run(mode, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			hosts := driver.NewHosts(exporter.WithAttemptTimeout(500 * time.Millisecond))
			dsn := srv.DSN() + "?telemetry_flush_interval=20ms"
			switch mode {
			case "on":
				dsn += "&enableTelemetry=true"
			case "off":
				dsn += "&enableTelemetry=false"
			}
			srv.SetTelemetryFlag(true)
			ctx := context.Background()
			pool := func() {
				c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts))
				require.NoError(t, err)
				db := sql.OpenDB(c)
				var n int
				require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
				require.NoError(t, db.Close())
				require.Zero(t, hosts.Len())
				accounted(t, c)
			}
			for range 10 {
				pool()
			}
			require.Empty(t, waitNoneOfOurs(5*time.Second))
			fds, gs := openFDs(), runtime.NumGoroutine()
			const n = 200
			for range n {
				pool()
			}
			left := waitNoneOfOurs(5 * time.Second)
			require.Empty(t, left, "goroutines of ours left after %d pools", n)
			time.Sleep(200 * time.Millisecond)
			fds2, gs2 := openFDs(), runtime.NumGoroutine()
			t.Logf("fds %d -> %d, goroutines %d -> %d", fds, fds2, gs, gs2)
			require.LessOrEqual(t, fds2, fds+4, "file descriptors grew")
			if mode != "off" {
				opens, closes, stmts := poolLogs(t, srv)
				sessions := srv.Sessions()
				require.Len(t, sessions, n+10)
				for _, s := range sessions {
					require.Equal(t, 1, opens[s.ID], "open logs of session %s", s.ID)
					require.Equal(t, 1, closes[s.ID], "close logs of session %s", s.ID)
				}
				for _, st := range srv.Statements() {
					require.Equal(t, 1, stmts[st.ID], "logs of statement %s", st.ID)
				}
			}
		})
	}
}

// accounted checks that c's Stats add up: nothing pending, every queued log exported or
// counted as dropped.
func accounted(t *testing.T, c *driver.Connector) {
	t.Helper()
	st := c.Stats()
	require.Zero(t, st.Pending, "%+v", st)
	require.Equal(t, st.Queued, st.Exported+st.Dropped.QueueFull+st.Dropped.ExportFailed+st.Dropped.Unfinished, "%+v", st)
}

// Connector closed twice and concurrently with queries; Flush and Stats after Close.
func TestCloseConcurrentWithQueriesAndFlushes(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	for round := range 5 {
		hosts := driver.NewHosts(exporter.WithAttemptTimeout(300 * time.Millisecond))
		c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=20ms", driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		db.SetMaxIdleConns(0)
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					var n int
					if err := db.QueryRowContext(ctx, "SELECT ?", g*1000+i).Scan(&n); err != nil {
						return // sql: database is closed
					}
				}
			}()
		}
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.Stats()
				fctx, fc := context.WithTimeout(ctx, 50*time.Millisecond)
				_ = c.Flush(fctx)
				fc()
			}
		}()
		time.Sleep(time.Duration(50+round*30) * time.Millisecond)
		var cw sync.WaitGroup
		for range 3 {
			cw.Add(1)
			go func() { defer cw.Done(); _ = c.Close() }()
		}
		began := time.Now()
		require.NoError(t, db.Close())
		cw.Wait()
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		require.Less(t, time.Since(began), 3*time.Second)
		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Flush(ctx), aggregator.ErrClosed)
		_ = c.Stats()
		require.Zero(t, hosts.Len())
		accounted(t, c)
		require.Empty(t, waitNoneOfOurs(3*time.Second))
	}
}
