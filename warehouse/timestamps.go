package warehouse

import (
	"strconv"
	"strings"
	"time"
)

// sparkTimestamp is a timestamp string as Spark's cast from STRING reads it: the wall
// time written (in UTC's fields), and the zone named after it, nil when none is.
type sparkTimestamp struct {
	wall time.Time
	zone *time.Location
}

// parseSparkTimestamp reads s in the forms Databricks' TIMESTAMP type takes (a literal
// or a string cast to it): [+]yyyy[-[m]m[-[d]d]], then after a space or a 'T'
// [h]h[:[m]m[:[s]s[.fraction]]], then a zone: Z, UTC, GMT or UT (each alone or with an
// offset), an offset +|-[h]h[:mm[:ss]] or +|-hhmm, or a region (Europe/Paris), maybe
// after a space. Surrounding blanks are ignored. Years are 0001 to 9999, as DuckDB's.
func parseSparkTimestamp(s string) (sparkTimestamp, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "+")
	p := tsParser{s: s}
	year, ok := p.digits(4, 4)
	if !ok || year == 0 {
		return sparkTimestamp{}, false
	}
	month, day := 1, 1
	if p.take('-') {
		if month, ok = p.digits(1, 2); !ok {
			return sparkTimestamp{}, false
		}
		if p.take('-') {
			if day, ok = p.digits(1, 2); !ok {
				return sparkTimestamp{}, false
			}
		}
	}
	var hour, minute, sec, nanos int
	if p.i < len(s) && (s[p.i] == ' ' || s[p.i] == 'T') && p.i+1 < len(s) && isDigit(s[p.i+1]) {
		p.i++
		hour, _ = p.digits(1, 2)
		if p.take(':') {
			if minute, ok = p.digits(1, 2); !ok {
				return sparkTimestamp{}, false
			}
			if p.take(':') {
				if sec, ok = p.digits(1, 2); !ok {
					return sparkTimestamp{}, false
				}
				if p.take('.') {
					start := p.i
					frac, ok := p.digits(1, 9)
					if !ok {
						return sparkTimestamp{}, false
					}
					for n := p.i - start; n < 9; n++ {
						frac *= 10
					}
					nanos = frac
					for p.i < len(s) && isDigit(s[p.i]) {
						p.i++ // beyond nanoseconds: dropped, as Spark drops beyond micros
					}
				}
			}
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return sparkTimestamp{}, false
	}
	wall := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	if wall.Day() != day { // 2023-02-30 rolled over
		return sparkTimestamp{}, false
	}
	rest := strings.TrimLeft(s[p.i:], " ")
	if rest == "" {
		return sparkTimestamp{wall: wall}, true
	}
	zone, ok := sparkZone(rest)
	if !ok {
		return sparkTimestamp{}, false
	}
	return sparkTimestamp{wall: wall, zone: zone}, true
}

// sparkZone reads a zone as a timestamp string names it (see parseSparkTimestamp).
func sparkZone(z string) (*time.Location, bool) {
	upper := strings.ToUpper(z)
	for _, prefix := range [...]string{"UTC", "GMT", "UT", "Z"} {
		if !strings.HasPrefix(upper, prefix) {
			continue
		}
		rest := z[len(prefix):]
		switch {
		case rest == "":
			return time.UTC, true
		case prefix != "Z" && (rest[0] == '+' || rest[0] == '-'):
			return sparkOffset(rest)
		}
	}
	if z[0] == '+' || z[0] == '-' {
		return sparkOffset(z)
	}
	if strings.ContainsAny(z, " \t'\\") || strings.EqualFold(z, "Local") {
		return nil, false
	}
	if id, ok := javaShortIDs[z]; ok {
		if id[0] == '-' {
			return sparkOffset(id)
		}
		z = id
	}
	loc, err := time.LoadLocation(z)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// javaShortIDs are the three-letter zone names Spark reads (java.time's ZoneId.SHORT_IDS).
var javaShortIDs = map[string]string{
	"ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
	"ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
	"CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
	"EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
	"IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
	"NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
	"PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
	"EST": "-05:00", "MST": "-07:00", "HST": "-10:00",
}

// sparkOffset reads +|-[h]h[:mm[:ss]] or +|-hh[mm[ss]], up to 18 hours.
func sparkOffset(z string) (*time.Location, bool) {
	sign := 1
	if z[0] == '-' {
		sign = -1
	}
	p := tsParser{s: z, i: 1}
	var h, m, sec int
	var ok bool
	if strings.IndexByte(z, ':') >= 0 {
		if h, ok = p.digits(1, 2); !ok {
			return nil, false
		}
		if p.take(':') {
			if m, ok = p.digits(2, 2); !ok {
				return nil, false
			}
			if p.take(':') {
				if sec, ok = p.digits(2, 2); !ok {
					return nil, false
				}
			}
		}
	} else {
		switch n := len(z) - 1; n {
		case 1, 2:
			h, ok = p.digits(n, n)
		case 4:
			h, ok = p.digits(2, 2)
			m, _ = p.digits(2, 2)
		case 6:
			h, ok = p.digits(2, 2)
			m, _ = p.digits(2, 2)
			sec, _ = p.digits(2, 2)
		}
		if !ok {
			return nil, false
		}
	}
	if p.i != len(z) || h > 18 || m > 59 || sec > 59 {
		return nil, false
	}
	return time.FixedZone("", sign*(h*3600+m*60+sec)), true
}

// tsParser steps through a timestamp string.
type tsParser struct {
	s string
	i int
}

// digits reads min to max decimal digits.
func (p *tsParser) digits(minN, maxN int) (int, bool) {
	start := p.i
	for p.i < len(p.s) && p.i-start < maxN && isDigit(p.s[p.i]) {
		p.i++
	}
	if p.i-start < minN {
		return 0, false
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	return n, err == nil
}

// take steps over c when it comes next.
func (p *tsParser) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// instantIn is the instant t stands for when its zone is missing and the session's is
// loc (nil: UTC).
func (t sparkTimestamp) instantIn(loc *time.Location) time.Time {
	switch {
	case t.zone != nil:
		loc = t.zone
	case loc == nil:
		loc = time.UTC
	}
	return wallIn(t.wall, loc).UTC()
}

// rewriteTimestampLiterals rewrites the TIMESTAMP literals of stmt (TIMESTAMP '…',
// CAST('…' AS TIMESTAMP), '…'::TIMESTAMP) that DuckDB would misread: one that names its
// zone becomes that instant (DuckDB's cast drops the offset and keeps the wall time
// written), and one in a form of Spark's that DuckDB does not take (one-digit fields, no
// seconds) is written out in full. A literal Spark's forms do not cover is left to DuckDB.
// It reads stmt token by token: strings elsewhere, comments and quoted names stay; a
// comment is a blank between tokens, and a word in one is never taken for the TIMESTAMP
// or CAST before a string.
func rewriteTimestampLiterals(stmt string) string {
	if !containsFoldASCII(stmt, "timestamp") {
		return stmt
	}
	var (
		b     strings.Builder
		last  int // stmt[:last] is written
		trail tokenTrail
	)
	push := trail.push
	for i := 0; i < len(stmt); i++ {
		c := stmt[i]
		if j := skipNoise(stmt, i); j > i {
			switch {
			case c == '-' || c == '/': // a comment is a blank: no token, its words neither
			case c == '\'' && j-i >= 2 && stmt[j-1] == '\'':
				if start, with := timestampLiteral(stmt, i, j, &trail); with != "" {
					b.WriteString(stmt[last:start])
					b.WriteString(with)
					last = j
				}
				push(sqlToken{punct: "'"})
			default:
				push(sqlToken{quoted: true})
			}
			i = j - 1
			continue
		}
		switch {
		case isBlank(c):
		case isIdentStart(c):
			j := identEnd(stmt, i)
			push(sqlToken{word: strings.ToUpper(stmt[i:j]), start: i, qualified: i > 0 && stmt[i-1] == '.'})
			i = j - 1
		case c == '(':
			push(sqlToken{punct: "("})
		default:
			push(sqlToken{punct: string(c)})
		}
	}
	if last == 0 {
		return stmt
	}
	b.WriteString(stmt[last:])
	return b.String()
}

// sqlTimestampLayout writes a timestamp as DuckDB reads it in a literal or a string:
// date and time in full, the fraction to its last digit.
const sqlTimestampLayout = "2006-01-02 15:04:05.999999999"

// timestampLiteral decides on the string stmt[i:j], which the tokens of trail precede:
// when it is a TIMESTAMP literal to rewrite, where the span to replace (up to j) starts
// and what replaces it.
func timestampLiteral(stmt string, i, j int, trail *tokenTrail) (start int, with string) {
	text := stmt[i+1 : j-1]
	if strings.ContainsAny(text, `'\`) {
		return 0, ""
	}
	prev1 := trail.last
	typed := prev1.word == "TIMESTAMP" && !prev1.qualified // TIMESTAMP '…'
	if !typed && !trail.castOperand(stmt[j:]) {
		return 0, ""
	}
	ts, ok := parseSparkTimestamp(text)
	if !ok {
		return 0, ""
	}
	if ts.zone == nil {
		full := ts.wall.Format(sqlTimestampLayout)
		if full == text {
			return 0, ""
		}
		if typed {
			return prev1.start, "TIMESTAMP '" + full + "'"
		}
		return i, "'" + full + "'"
	}
	instant := "TIMESTAMPTZ '" + ts.instantIn(nil).Format(sqlTimestampLayout) + "+00'"
	if typed {
		return prev1.start, "CAST(" + instant + " AS TIMESTAMP)"
	}
	return i, "(" + instant + ")"
}

// tokenTrail is what the timestamp scanners keep of the tokens before a string or a
// parameter's marker: the last one, and the run of "(" it may end, with the token before
// that run (CAST in "CAST((").
type tokenTrail struct {
	last   sqlToken
	opens  int      // how many "(" end the tokens so far
	before sqlToken // the token before those "("
}

func (t *tokenTrail) push(tok sqlToken) {
	if tok.punct == "(" {
		if t.opens == 0 {
			t.before = t.last
		}
		t.opens++
	} else {
		t.opens = 0
	}
	t.last = tok
}

// castOperand reports whether the operand that the trail's tokens precede and after
// follows is cast to TIMESTAMP: the operand of CAST(… AS TIMESTAMP) (TRY_CAST too), or of
// "::TIMESTAMP", maybe inside parentheses of its own ("('…')::TIMESTAMP",
// "CAST((?) AS TIMESTAMP)").
func (t *tokenTrail) castOperand(after string) bool {
	castCall := t.before.word == "CAST" || t.before.word == "TRY_CAST"
	groups := t.opens // the "(" that group the operand; the first of a call's is the call's
	if t.opens > 0 && (t.before.quoted || t.before.word != "" && !groupingWord(t.before.word)) {
		groups--
	}
	for closed := 0; ; closed++ {
		if castTarget(after, false) || castCall && closed == t.opens-1 && castTarget(after, true) {
			return true
		}
		after = after[skipBlanksAndComments(after, 0):]
		if closed == groups || !strings.HasPrefix(after, ")") {
			return false
		}
		after = after[1:]
	}
}

// groupingWord reports whether a "(" after the keyword w groups an expression; after
// another word it opens a call's arguments (upper('…')), or a list (IN, VALUES).
func groupingWord(w string) bool {
	switch w {
	case "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "CASE", "WHEN", "THEN", "ELSE", "HAVING", "ON",
		"BY", "IS", "BETWEEN", "LIKE", "DISTINCT", "ALL", "RETURN":
		return true
	}
	return false
}

// castTarget reports whether after, the text after a string, casts it to TIMESTAMP:
// "AS TIMESTAMP )" when asWord (the string is a CAST's operand), else "::TIMESTAMP".
func castTarget(after string, asWord bool) bool {
	skip := func(s string) string { return s[skipBlanksAndComments(s, 0):] }
	after = skip(after)
	if asWord {
		if len(after) < 3 || !strings.EqualFold(after[:2], "AS") || isIdentPart(after[2]) {
			return false
		}
		after = skip(after[2:])
	} else {
		if !strings.HasPrefix(after, "::") {
			return false
		}
		after = skip(after[2:])
	}
	n := len("timestamp")
	if len(after) < n || !strings.EqualFold(after[:n], "timestamp") || len(after) > n && isIdentPart(after[n]) {
		return false
	}
	return !asWord || strings.HasPrefix(skip(after[n:]), ")")
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// containsFoldASCII reports whether s contains the lower-case ASCII word, in any case.
func containsFoldASCII(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}
