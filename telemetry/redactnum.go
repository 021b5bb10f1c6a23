package telemetry

import "strings"

// digits are the needles of the number rule: a message without one has no number.
var digits = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// keptNumberWords are the words after which a number is a position, a code or a status
// rather than a value: "line 1, pos 7", "SQLSTATE: 22012", "status 503".
var keptNumberWords = []string{"sqlstate", "line", "pos", "position", "col", "column", "status", "code"}

// maxKeptWord is longer than every word of keptNumberWords and sizedTypes: a longer
// word is none of them, and is not read further back.
const maxKeptWord = 8

// sizedTypes are the SQL types printed with their sizes in parentheses: Decimal(5, 2).
var sizedTypes = []string{"decimal", "numeric", "dec", "char", "varchar"}

// maxSizeArgs bounds how far back a number looks for a sized type's parenthesis.
const maxSizeArgs = 16

// redactNumbers replaces each number that stands alone with "?": a server quotes the
// value it could not cast, store or compute without quotes ("The value 987654321L of
// the type BIGINT", "4242424.00 cannot be represented as Decimal(5, 2)"), and that value
// may be a parameter or a column's. A number is digits with an optional fraction,
// exponent and SQL literal suffix (L, l, S, Y, D, F, BD), neither inside a word (INT64,
// 0x1d, 10s, v1.2) nor in a URL; the parts of a date and time are numbers too
// (2026-11-26T09:03:55Z, 11/26/2026). Kept: numbers after the words of keptNumberWords,
// HTTP statuses, the sizes of sizedTypes, digits after a dotted name's colon (a port, a
// file's line), a path's elements and the numbers of hyphenated names (adb-1).
func redactNumbers(s string) string {
	w := rewriter{s: s}
	us, ue := nextURL(s, 0)
	for i := 0; i < len(s); i++ {
		if us >= 0 && i >= us {
			// A URL is left to redactURLs whole.
			i = ue - 1
			us, ue = nextURL(s, ue)
			continue
		}
		if !isDigit(s[i]) || i > 0 && (isWordChar(s[i-1]) || s[i-1] == '.') && !isTimeMark(s, i-1) {
			continue
		}
		end, ok := numberEnd(s, i)
		if !ok || keepNumber(s, i, end) {
			continue
		}
		w.replace(i, end, "?")
		i = end - 1
	}
	return w.String()
}

// isTimeMark reports whether s[k] is the T of an ISO date and time (26T09).
func isTimeMark(s string, k int) bool {
	return k > 0 && k < len(s) && s[k] == 'T' && isDigit(s[k-1])
}

// numberEnd returns the end of the number that starts at s[i] (a digit), and false when
// the digits run on into a word or a dotted version instead.
func numberEnd(s string, i int) (int, bool) {
	j := skipDigits(s, i)
	if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
		j = skipDigits(s, j+1)
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			j = skipDigits(s, k)
		}
	}
	switch {
	case strings.HasPrefix(s[j:], "BD"):
		j += 2
	case isTimeMark(s, j) && j+1 < len(s) && isDigit(s[j+1]):
		return j, true // the date before an ISO time
	case j < len(s) && strings.IndexByte("LlSYDFZ", s[j]) >= 0:
		j++
	}
	if j < len(s) && (isWordChar(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
		return j, false
	}
	return j, true
}

func skipDigits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// keepNumber reports whether the number s[i:end] is a position, code, status, size,
// port or line rather than a value (see redactNumbers).
func keepNumber(s string, i, end int) bool {
	digitsOnly := skipDigits(s, i) == end
	if i >= 2 && s[i-1] == ':' && digitsOnly && dottedBefore(s, i-1) {
		return true // host.example:443, 10.0.0.1:443, localhost:8080, main.go:12
	}
	if i >= 2 && s[i-1] == '/' && !isDigit(s[i-2]) || i >= 2 && s[i-1] == '-' && nameBefore(s, i-1) {
		return true // a path's element (/sql/1.0/…), a hyphenated name (adb-1, utf-8)
	}
	if digitsOnly && end-i == 3 && s[i] >= '1' && s[i] <= '5' && afterHTTP(s, i) {
		return true // HTTP/1.1 503, HTTP 429, HTTP error 403
	}
	if digitsOnly && end-i == 3 && isHTTPStatus(s[i:]) {
		return true // a status as Go prints one: "cannot fetch token: 401 Unauthorized"
	}
	// The word before, over separators: "SQLSTATE: 22012", "line 1", "pos=7".
	k := i
	for n := 0; k > 0 && n < 3 && strings.IndexByte(" :=#", s[k-1]) >= 0; n++ {
		k--
	}
	if wordBefore(s, k, keptNumberWords) {
		return true
	}
	// Inside a sized type's parentheses: Decimal(5, 2). The look back is bounded, so that
	// a long run of numbers costs linear time.
	k = i
	for k > 0 && i-k < maxSizeArgs && (isDigit(s[k-1]) || s[k-1] == ' ' || s[k-1] == ',') {
		k--
	}
	return k > 0 && s[k-1] == '(' && wordBefore(s, k-1, sizedTypes)
}

// maxNameScan bounds how far back dottedBefore and nameBefore read.
const maxNameScan = 64

// dottedBefore reports whether the name that ends at s[k] (exclusive) is a dotted one
// whose last part starts with a letter (host.example, main.go) or one with two dots
// (10.0.0.1), or localhost: a host or a file, not a key of a value (ssn:123, ID:987), a
// time (09:03) nor a number (12.50:3, 1.0E0:3, 00.00T09:03), which redactNumbers
// replaces: its digits after the colon would otherwise be kept in one pass and replaced
// in the next.
func dottedBefore(s string, k int) bool {
	j, dots, lastLetter := k, 0, false
	for j > 0 && k-j < maxNameScan && (isWordChar(s[j-1]) || s[j-1] == '.' || s[j-1] == '-') {
		j--
		if s[j] == '.' {
			if dots == 0 {
				lastLetter = j+1 < k && isLetter(s[j+1])
			}
			dots++
		}
	}
	return dots > 0 && (lastLetter || dots > 1) || k-j == len("localhost") && indexFold(s[j:k], "localhost") == 0
}

// nameBefore reports whether the word that ends at s[k] (exclusive) is a name: it
// starts with a letter (adb, utf, x86). A word that starts with a digit may be a number
// with a suffix (0Y, 12L), which redactNumbers replaces: the digits after its hyphen
// would be kept in one pass and replaced in the next.
func nameBefore(s string, k int) bool {
	j := k
	for j > 0 && k-j < maxNameScan && isWordChar(s[j-1]) {
		j--
	}
	return j < k && isLetter(s[j])
}

// afterHTTP reports whether the number at s[i] follows "HTTP", "HTTP/1.1" or "HTTP error".
func afterHTTP(s string, i int) bool {
	tok := func(end int) (int, string) { // the token before end, over spaces
		for end > 0 && s[end-1] == ' ' {
			end--
		}
		start := end
		for start > 0 && end-start < 8 && !isSpaceAny(s[start-1]) {
			start--
		}
		return start, s[start:end]
	}
	start, t := tok(i)
	if indexFold(t, "error") == 0 && len(t) == len("error") {
		_, t = tok(start)
	}
	t = strings.TrimLeft(t, "([{<'\"") // "(HTTP 429)"
	return len(t) >= 4 && indexFold(t[:4], "http") == 0 && (len(t) == 4 || httpVersion(t[4:]))
}

// httpVersion reports whether v is "/" and a protocol version (1.1, 2): anything else
// after HTTP/ is no status line.
func httpVersion(v string) bool {
	if len(v) < 2 || v[0] != '/' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if c := v[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// wordBefore reports whether the letters that end at s[k] (exclusive) form one of words
// (lower case), ignoring ASCII case.
func wordBefore(s string, k int, words []string) bool {
	j := k
	for j > 0 && k-j <= maxKeptWord && isLetter(s[j-1]) {
		j--
	}
	if j == k || j > 0 && isWordChar(s[j-1]) {
		return false
	}
	for _, w := range words {
		if len(w) == k-j && indexFold(s[j:k], w) == 0 {
			return true
		}
	}
	return false
}
