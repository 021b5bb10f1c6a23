package warehouse

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRewriteIntegralCasts(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"CAST", "SELECT CAST(x * 1.5 AS INT) FROM t", "SELECT spark_cast_int(x * 1.5) FROM t"},
		{"TRY_CAST and synonyms", "SELECT try_cast(a AS long), CAST(b AS Short), CAST(c AS BYTE)",
			"SELECT spark_try_cast_bigint(a), spark_cast_smallint(b), spark_cast_tinyint(c)"},
		{"nested", "SELECT CAST(CAST(a AS DOUBLE) AS INTEGER)", "SELECT spark_cast_int(CAST(a AS DOUBLE))"},
		{"an operand with AS inside", "SELECT CAST((SELECT max(a) AS m FROM t) AS INT)", "SELECT spark_cast_int((SELECT max(a) AS m FROM t))"},
		{"other targets stay", "SELECT CAST(a AS DOUBLE), CAST(a AS DECIMAL(5,1)), CAST(a AS INT[])", "SELECT CAST(a AS DOUBLE), CAST(a AS DECIMAL(5,1)), CAST(a AS INT[])"},
		{":: after a name", "SELECT t.a::int, b :: BIGINT FROM t", "SELECT spark_cast_int(t.a), spark_cast_bigint(b) FROM t"},
		{":: after literals", "SELECT '1.5'::INT, 2.7::INT, (-2.7)::INT", "SELECT spark_cast_int('1.5'), spark_cast_int(2.7), spark_cast_int((-2.7))"},
		{":: after a call", "SELECT abs(x)::INT, s.f(x)::INT, CAST(x AS DOUBLE)::BIGINT",
			"SELECT spark_cast_int(abs(x)), spark_cast_int(s.f(x)), spark_cast_bigint(CAST(x AS DOUBLE))"},
		{":: and CAST together", "SELECT CAST(x AS INT)::BIGINT", "SELECT spark_cast_bigint(spark_cast_int(x))"},
		{"a quoted name", `SELECT "my col"::INT`, `SELECT spark_cast_int("my col")`},
		{"int()", "SELECT int(2.7), BigInt (x), tinyint(y)", "SELECT spark_cast_int(2.7), spark_cast_bigint (x), spark_cast_tinyint(y)"},
		{"int() of a parameter", "SELECT int($p1), int(?)", "SELECT CAST($p1 AS INT), CAST(? AS INT)"},
		{"integer literals stay", "SELECT CAST(1 AS BIGINT), CAST(-128 AS TINYINT), 7::INT", "SELECT CAST(1 AS BIGINT), CAST(-128 AS TINYINT), 7::INT"},
		{"parameters and NULL stay", "SELECT CAST(? AS INT), CAST($p1 + 1 AS INT), CAST(NULL AS INT), ?::INT, $p2::INT",
			"SELECT CAST(? AS INT), CAST($p1 + 1 AS INT), CAST(NULL AS INT), ?::INT, $p2::INT"},
		{"what :: cannot be told of stays", "SELECT CASE WHEN a THEN 1.5 END::INT, a[1]::INT, x::DOUBLE::INT, count(*) OVER (ORDER BY a)::INT, DATE '2020-01-01'::INT",
			"SELECT CASE WHEN a THEN 1.5 END::INT, a[1]::INT, x::DOUBLE::INT, count(*) OVER (ORDER BY a)::INT, DATE '2020-01-01'::INT"},
		{"types in DDL stay", "CREATE TABLE t (a INT, b BIGINT, c DECIMAL(5,1))", "CREATE TABLE t (a INT, b BIGINT, c DECIMAL(5,1))"},
		{"strings and names stay", `SELECT 'CAST(a AS INT)', "int"(1), 'x::INT'`, `SELECT 'CAST(a AS INT)', "int"(1), 'x::INT'`},
		{"a qualified cast stays", "SELECT s.cast(a AS INT)", "SELECT s.cast(a AS INT)"},
		{"after a keyword", "CREATE TABLE t (a INT DEFAULT (-1)::INT); SELECT substring(s FROM 2 FOR (3)::INT)",
			"CREATE TABLE t (a INT DEFAULT spark_cast_int((-1))); SELECT substring(s FROM 2 FOR spark_cast_int((3)))"},
		{"after INTERVAL", "SELECT INTERVAL '1'::INT", "SELECT INTERVAL '1'::INT"},
		{"a field of an expression stays", "SELECT a[0].f::INT, (s).f::INT", "SELECT a[0].f::INT, (s).f::INT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteIntegralCasts(tc.in))
		})
	}
}

func TestRewriteLongConcats(t *testing.T) {
	args := func(from, to int) string {
		var a []string
		for i := from; i <= to; i++ {
			a = append(a, "a"+strconv.Itoa(i))
		}
		return strings.Join(a, ", ")
	}
	for _, tc := range []struct{ name, in, want string }{
		{"32 stay", "SELECT concat(" + args(1, 32) + ")", "SELECT concat(" + args(1, 32) + ")"},
		{"33 nest", "SELECT concat(" + args(1, 33) + ")", "SELECT concat(concat(" + args(1, 32) + "), a33)"},
		{"64 nest twice", "SELECT CONCAT(" + args(1, 64) + ")", "SELECT CONCAT(concat(concat(" + args(1, 32) + "), " + args(33, 63) + "), a64)"},
		{"commas inside arguments", "SELECT concat(f(x, y), " + args(2, 33) + ")", "SELECT concat(concat(f(x, y), " + args(2, 32) + "), a33)"},
		{"a concat inside", "SELECT upper(concat(" + args(1, 33) + ")), concat(a, b)",
			"SELECT upper(concat(concat(" + args(1, 32) + "), a33)), concat(a, b)"},
		{"concat_ws stays", "SELECT concat_ws(" + args(1, 40) + ")", "SELECT concat_ws(" + args(1, 40) + ")"},
		{"a brace's commas", "SELECT concat(" + args(1, 31) + ", {'a': 1, 'b': 2})", "SELECT concat(" + args(1, 31) + ", {'a': 1, 'b': 2})"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteLongConcats(tc.in))
		})
	}
}

func TestRewriteArraySubscripts(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a call's", "SELECT split(s, ',')[0]", "SELECT spark_at(split(s, ','), 0)"},
		{"a name's", "SELECT t.a[1], b [2], \"c d\"[3] FROM t", "SELECT spark_at(t.a, 1), spark_at(b, 2), spark_at(\"c d\", 3) FROM t"},
		{"two", "SELECT a[0][1]", "SELECT spark_at(spark_at(a, 0), 1)"},
		{"a literal's", "SELECT [1, 2, 3][0], x = [1][0]", "SELECT spark_at([1, 2, 3], 0), x = spark_at([1], 0)"},
		{"negative", "SELECT a[-1]", "SELECT spark_at(a, -1)"},
		{"parentheses", "SELECT (a)[0], f(x)[0]", "SELECT spark_at((a), 0), spark_at(f(x), 0)"},
		{"other subscripts stay", "SELECT a[i], a[i + 1], m['k'], a[?], a[$p1], a[1.5], a[1:2]",
			"SELECT a[i], a[i + 1], m['k'], a[?], a[$p1], a[1.5], a[1:2]"},
		{"types stay", "CREATE TABLE t (a INT[3], b INT[]); SELECT x::INT[2]", "CREATE TABLE t (a INT[3], b INT[]); SELECT x::INT[2]"},
		{"strings stay", "SELECT 'a[0]'", "SELECT 'a[0]'"},
		{"a field's", "SELECT a[0].f[1], (s).f[2], t.b.c[3]", "SELECT spark_at(spark_at(a, 0).f, 1), spark_at((s).f, 2), spark_at(t.b.c, 3)"},
		{"a keyword-named call's", "SELECT range(5)[0], map(k, v)[1]", "SELECT spark_at(range(5), 0), spark_at(map(k, v), 1)"},
		{"array types stay", "SELECT CAST(a AS INT[2]); CREATE TABLE t (x STRUCT(f INT)[2], range INT[2])",
			"SELECT CAST(a AS INT[2]); CREATE TABLE t (x STRUCT(f INT)[2], range INT[2])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteArraySubscripts(tc.in))
		})
	}
}

func TestSparkIntegral(t *testing.T) {
	intT, _ := integralTypeNamed("int")
	byteT, _ := integralTypeNamed("tinyint")
	longT, _ := integralTypeNamed("long")
	for _, tc := range []struct {
		name string
		v    any
		to   integralType
		want int64
		err  string // the marker of the error, when it fails
	}{
		{"a DOUBLE truncates", 2.7, intT, 2, ""},
		{"toward zero", -5.6, intT, -5, ""},
		{"a FLOAT", float32(-1.9), intT, -1, ""},
		{"a DECIMAL", duckdb.Decimal{Width: 5, Scale: 2, Value: big.NewInt(-299)}, intT, -2, ""},
		{"a DECIMAL too big", duckdb.Decimal{Width: 38, Scale: 1, Value: new(big.Int).Lsh(big.NewInt(1), 100)}, longT, 0, castOverflowMarker},
		{"a HUGEINT", new(big.Int).Lsh(big.NewInt(1), 70), longT, 0, castOverflowMarker},
		{"overflow", 128.0, byteT, 0, castOverflowMarker},
		{"the least", -128.9, byteT, -128, ""},
		{"NaN", math.NaN(), intT, 0, castOverflowMarker},
		{"the greatest BIGINT", 9223372036854775807.0, longT, 0, castOverflowMarker},
		{"an integer", int64(300), byteT, 0, castOverflowMarker},
		{"a UBIGINT", uint64(math.MaxUint64), longT, 0, castOverflowMarker},
		{"a boolean", true, byteT, 1, ""},
		{"a string", " -12\t", intT, -12, ""},
		{"a string with a fraction", "1.5", intT, 0, castInvalidMarker},
		{"a string with an exponent", "1e3", intT, 0, castInvalidMarker},
		{"two signs", "+-1", intT, 0, castInvalidMarker},
		{"a sign alone", "-", intT, 0, castInvalidMarker},
		{"a string out of range", "99999999999", intT, 0, castInvalidMarker},
		{"binary", []byte("1"), intT, 0, castMismatchMarker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sparkIntegral(tc.v, tc.to)
			if tc.err != "" {
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tc.err), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzRewriteIntegralCasts: the rewrite never panics, leaves a statement without a cast
// as it is, and a second pass changes nothing.
func FuzzRewriteIntegralCasts(f *testing.F) {
	for _, s := range []string{"SELECT CAST(a AS INT)", "SELECT a::INT", "SELECT int(x)", "SELECT CAST((a AS INT)", "SELECT ::INT", "SELECT )::INT", "int(", "CAST(AS INT)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		assert.NotPanics(t, func() { rewriteArraySubscripts(s) })
		assert.NotPanics(t, func() { rewriteLongConcats(s) })
		out := rewriteIntegralCasts(s)
		if !strings.Contains(s, "::") && !containsFoldASCII(s, "cast") && !intCall(s) {
			assert.Equal(t, s, out)
		}
		assert.Equal(t, out, rewriteIntegralCasts(out))
	})
}

// A value quoted in a cast's error that holds another error's marker does not change the
// error's class.
func TestRaisedErrorTakesTheFirstMarker(t *testing.T) {
	msg := "Invalid Input Error: database/sql/driver: API error: " + castInvalidMarker +
		"The value '" + divideByZeroMarker + "x' of the type \"STRING\" cannot be cast to \"INT\" because it is malformed"
	e, ok := raisedError(duckdb.ErrorTypeInvalidInput, msg)
	require.True(t, ok)
	assert.Equal(t, "CAST_INVALID_INPUT", e.class)
	assert.Equal(t, "22018", e.state)
	_, ok = raisedError(duckdb.ErrorTypeConversion, msg)
	assert.False(t, ok, "only the errors the macros and casts raise")
}
