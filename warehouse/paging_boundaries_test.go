package warehouse_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Every result size around the page, batch, chunk and CloudFetch boundaries arrives
// whole and in order through the real driver.
func TestPagingBoundaries(t *testing.T) {
	for _, cfg := range []struct {
		name   string
		opts   []warehouse.Option
		params string
	}{
		{"inline page=batch", []warehouse.Option{warehouse.WithBatchRows(10), warehouse.WithCloudFetchThreshold(1 << 40)}, "maxRows=10"},
		{"inline batch<page", []warehouse.Option{warehouse.WithBatchRows(3), warehouse.WithCloudFetchThreshold(1 << 40)}, "maxRows=10"},
		{"inline batch>page", []warehouse.Option{warehouse.WithBatchRows(50), warehouse.WithCloudFetchThreshold(1 << 40)}, "maxRows=10"},
		{"cloudfetch", []warehouse.Option{warehouse.WithBatchRows(10), warehouse.WithCloudFetchThreshold(25), warehouse.WithChunkRows(10)}, "maxRows=10"},
		{"cloudfetch chunk odd", []warehouse.Option{warehouse.WithBatchRows(3), warehouse.WithCloudFetchThreshold(0), warehouse.WithChunkRows(7)}, "maxRows=10"},
		{"cloudfetch off", []warehouse.Option{warehouse.WithBatchRows(10), warehouse.WithCloudFetchThreshold(0), warehouse.WithChunkRows(10)}, "maxRows=10&useCloudFetch=false"},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			srv := start(t, cfg.opts...)
			db := open(t, srv, cfg.params)
			for _, n := range []int{0, 1, 2, 9, 10, 11, 19, 20, 21, 24, 25, 26, 30, 79, 80, 81, 95, 100, 101} {
				rows, err := db.Query(fmt.Sprintf("SELECT range AS v FROM range(%d) ORDER BY v", n))
				require.NoError(t, err, n)
				i := 0
				for rows.Next() {
					var v int64
					require.NoError(t, rows.Scan(&v))
					require.Equal(t, int64(i), v, "n=%d", n)
					i++
				}
				require.NoError(t, rows.Err(), n)
				require.NoError(t, rows.Close())
				require.Equal(t, n, i, "n=%d", n)
			}
		})
	}
}
