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
