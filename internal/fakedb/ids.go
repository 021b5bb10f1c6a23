package fakedb

// Ids look like the driver's GUIDs (client.SprintGuid: 8-4-4-4-12 lower-case
// hex) and are laid out as
//
//	ssssssss-cccc-cccc-kkkk-nnnnnnnnnnnn
//
// s: random per connector, c: connection sequence number, k: kind (0 session,
// 1 statement), n: statement sequence number within the connection (0 for the
// session id). They are unique within a process run for up to 2^32
// connections per connector and 2^48 statements per connection.
const (
	kindSession   = 0
	kindStatement = 1

	guidLen   = 36
	prefixLen = 24 // "ssssssss-cccc-cccc-kkkk-"

	hexDigits = "0123456789abcdef"
)

// putHex writes v as len(dst) lower-case hex digits, keeping the low bits.
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// guidPrefix returns the first 24 bytes of the ids of a connection's
// statements (or of its session id, for kindSession).
func guidPrefix(salt, conn uint32, kind uint16) [prefixLen]byte {
	var b [prefixLen]byte
	putHex(b[0:8], uint64(salt))
	b[8] = '-'
	putHex(b[9:13], uint64(conn>>16))
	b[13] = '-'
	putHex(b[14:18], uint64(conn))
	b[18] = '-'
	putHex(b[19:23], uint64(kind))
	b[23] = '-'
	return b
}

// guidWithPrefix completes prefix with seq; it allocates only the string.
func guidWithPrefix(prefix *[prefixLen]byte, seq uint64) string {
	var b [guidLen]byte
	copy(b[:prefixLen], prefix[:])
	putHex(b[prefixLen:], seq)
	return string(b[:])
}

// formatGUID returns the id of the given kind and sequence numbers.
func formatGUID(salt, conn uint32, kind uint16, seq uint64) string {
	p := guidPrefix(salt, conn, kind)
	return guidWithPrefix(&p, seq)
}
