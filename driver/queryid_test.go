package driver

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The statement id an ExecuteStatement reply names, as the driver prints it.
func TestExecuteStatementID(t *testing.T) {
	id, ok := executeStatementID(warehouseReply(t, "SELECT 1", "ExecuteStatement"))
	assert.True(t, ok)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`), id)
	_, ok = executeStatementID(openSessionReply(make([]byte, 16)))
	assert.False(t, ok, "an OpenSession reply has no operation handle")
	_, ok = executeStatementID([]byte("junk"))
	assert.False(t, ok)
}

// The ids the driver's callbacks name are recorded as their doc comments say: an empty
// id (the driver fires many) changes nothing, a repeated one is kept, and a different
// one replaces it, for a statement as for its connection's session.
func TestIDCallbacksRecordWhatTheyName(t *testing.T) {
	cs := newConnState(&Connector{})
	st := newStmtState(t.Context(), cs)
	for _, step := range []struct{ id, wantSession, wantStatement string }{
		{"", "", ""},
		{"a", "a", "a"},
		{"", "a", "a"},
		{"a", "a", "a"},
		{"b", "b", "b"},
		{"", "b", "b"},
	} {
		cs.onConnID(step.id)
		st.setID(step.id)
		assert.Equal(t, step.wantSession, cs.session(), "after %q", step.id)
		assert.Equal(t, step.wantStatement, st.statementID(), "after %q", step.id)
	}
}
