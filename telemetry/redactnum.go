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
// exponent and SQL literal suffix (L, S, Y, D, F, BD), neither inside a word (INT64,
// 0x1d, 10s, v1.2) nor in a URL. Kept: numbers after the words of keptNumberWords, the
// sizes of sizedTypes, digits after "name:" (a port, a file's line), a path's elements
// and the numbers of hyphenated names (adb-1).
func redactNumbers(s string) string {
	w := rewriter{s: s}
	for i := 0; i < len(s); i++ {
		if (i == 0 || isSpaceAny(s[i-1])) && !isSpaceAny(s[i]) {
			// A new whitespace-delimited token: a URL is left to redactURLs whole.
			e := i
			for e < len(s) && !isSpaceAny(s[e]) {
				e++
			}
			if strings.Contains(s[i:e], "://") {
				i = e - 1
				continue
			}
		}
		if !isDigit(s[i]) || i > 0 && (isWordChar(s[i-1]) || s[i-1] == '.') {
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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

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
	case j < len(s) && strings.IndexByte("LSYDF", s[j]) >= 0:
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
	if i >= 2 && s[i-1] == ':' && nameBefore(s, i-1, true) && skipDigits(s, i) == end {
		return true // host:443, 10.0.0.1:443, main.go:12; not a time (09:03)
	}
	if i >= 1 && s[i-1] == '/' || i >= 2 && s[i-1] == '-' && nameBefore(s, i-1, false) {
		return true // a path's element (/sql/1.0/…), a hyphenated name (adb-1, utf-8)
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

// maxNameScan bounds how far back nameBefore reads.
const maxNameScan = 64

// nameBefore reports whether the word that ends at s[k] (exclusive) holds a letter, or
// with dotted, a dot: a name (host, main.go, 10.0.0.1) rather than a number (2026, 09).
func nameBefore(s string, k int, dotted bool) bool {
	for n := 0; k > 0 && n < maxNameScan && (isWordChar(s[k-1]) || dotted && s[k-1] == '.'); k, n = k-1, n+1 {
		if isLetter(s[k-1]) || s[k-1] == '.' {
			return true
		}
	}
	return false
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
