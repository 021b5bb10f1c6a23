package telemetry

import "time"

// SafeClock returns a clock that answers now(), or time.Now() when now panics, calling
// onPanic (when not nil) first. The aggregator and the exporter read a caller's clock
// (their WithClock options) while they hold locks: a panic there must neither escape
// into the driver's path nor leave a lock held.
func SafeClock(now func() time.Time, onPanic func()) func() time.Time {
	return func() (t time.Time) {
		defer func() {
			if recover() != nil {
				if onPanic != nil {
					onPanic()
				}
				t = time.Now()
			}
		}()
		return now()
	}
}
