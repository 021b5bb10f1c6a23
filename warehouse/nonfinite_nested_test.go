package warehouse_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A NaN or an infinity inside an ARRAY, MAP or STRUCT is shown as Spark's JSON shows it
// (quoted), where it failed the statement with an INTERNAL_ERROR ("json: unsupported
// value: NaN"); a scalar one stays a float.
func TestNonFiniteInNestedValues(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	ctx := ctxTimeout(t, 30*time.Second)
	tests := []struct {
		query string
		args  []any
		want  string
	}{
		{query: "SELECT [CAST('NaN' AS DOUBLE), 1.5]", want: `["NaN",1.5]`},
		{query: "SELECT [CAST('Infinity' AS DOUBLE), CAST('-Infinity' AS DOUBLE)]", want: `["Infinity","-Infinity"]`},
		{query: "SELECT [CAST('NaN' AS FLOAT)]", want: `["NaN"]`},
		{query: "SELECT map(['a'], [CAST('NaN' AS DOUBLE)])", want: `{"a":"NaN"}`},
		{query: "SELECT {'x': CAST('-Infinity' AS DOUBLE)}", want: `{"x":"-Infinity"}`},
		{query: "SELECT [?]", args: []any{math.NaN()}, want: `["NaN"]`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var s string
			require.NoError(t, db.QueryRowContext(ctx, tt.query, tt.args...).Scan(&s))
			assert.Equal(t, tt.want, s)
		})
	}
	var f float64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT CAST('NaN' AS DOUBLE)").Scan(&f))
	assert.True(t, math.IsNaN(f), "a scalar NaN")
}
